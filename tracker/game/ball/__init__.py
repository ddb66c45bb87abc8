"""The ball and who has it, on broadcast footage where the person detector's ``sports ball`` class
rarely fires. One concept a module, each usable alone:

* :mod:`.candidates` -- :class:`~.candidates.ColourCandidates`: ball-coloured, round, ball-sized,
  moving blobs near players;
* :mod:`.tiles` -- :class:`~.tiles.TileBallDetector`: the detector's ball class on upscaled
  upper-body tiles (a GPU extra);
* :mod:`.flight` -- :class:`~.flight.FlightFinder`: a thrown ball from motion alone (camera-compensated
  frame difference, chains that move like a ball in flight); opt-in (``BallFinder(flight=...)``);
* :mod:`.net` -- :class:`~.net.NetCandidates`: peaks of a tiny ball heatmap net trained on synthetic
  balls pasted into the user's own footage (:mod:`.net_data`, :mod:`.net_train`; no weights ship);
  opt-in (``BallFinder(net=...)``): it finds the ball on a 720p clip it never saw, not on a 480p broadcast;
* :mod:`.state` -- :class:`~.state.BallStateTracker`: a Kalman track over the candidates with the
  state held / flight / lost and a confidence per position;
* :mod:`.finder` -- :class:`~.finder.BallFinder`: the three combined, the stage the pipeline runs;
* :mod:`.possession` -- :class:`~.possession.PossessionTracker`: who holds the ball, as a timeline;
* :mod:`.detected` -- :class:`~.detected.BallTracker`: the detector's own ball boxes followed (the
  baseline the finder is measured against).

All positions are image pixels of the full frame, ``(x, y)`` of the ball centre.
"""
