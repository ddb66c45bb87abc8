"""Teams and referees by jersey colour: :mod:`.colours` describes what each person wears (torso and
shorts colour histograms, with the floor masked out and hidden torsos skipped); :mod:`.assigner`
clusters those descriptors into two teams and a referee group and gives each track a label.

The labels are words (``"A"``, ``"B"``, ``"referee"``); how they are drawn is the renderer's
business (:mod:`pipeline.render`)."""
