"""Making action models: what defines a run (:mod:`.config`), the model's start (:mod:`.init`),
the optimisation schedule (:mod:`.schedule`), the training loop (:mod:`.loop`), the run folder
(:mod:`.run_folder`) and the run itself (:mod:`.run`). ``bball-train`` (:mod:`recognizer.train`)
is the command line over :func:`recognizer.training.run.train`."""
