"""Jersey numbers: read on the torso with RapidOCR, voted per track, off the main thread.

* :func:`torso_boxes` -- the torso part of person boxes (front or back number), ``(N, 4)`` xyxy;
* :class:`NumberReader` -- RapidOCR (PP-OCRv4 detection + recognition ONNX models shipped in the
  ``rapidocr-onnxruntime`` wheel, Apache-2.0, offline) on a list of torso crops, each upscaled to
  a fixed height; only digit strings of one or two digits count (:func:`clean_number`). When the
  text detector finds nothing (a broadcast number at 480p is ~10 px tall with 2-px strokes), the
  recogniser alone may be run on a few windows of the number region (opt-in, ``windows=``:
  :func:`number_windows`, upscaled to its 48-px line height); such a read is *weak*: it counts only when several windows agree,
  and its confidence is capped at ``weak_cap`` so that the vote needs more of them;
* :class:`NumberVote` -- one track's reads, confidence-weighted: a number is *decided* once it
  has ``min_reads`` reads, at least ``min_share`` of the weight and a weight of ``min_weight``
  (three detector reads, or five or more agreeing weak reads); it reports a
  *change* when ``min_reads`` of its last ``2 * min_reads`` strong reads (and ``min_share`` of
  them) say another number (the tracker swapped the track onto another player);
* :class:`JerseyNumbers` -- the stage: per frame, the tracks that still need a number (not
  decided, box tall enough, not sampled in the last ``every`` frames) have their torso cropped
  and queued; a worker thread runs the OCR in batches; the main thread collects finished reads
  at its next call. Its main-thread cost is a few crops of a few frames.

Numbers are strings (``"7"``, ``"23"``, ``"00"``), so ``"0"`` and ``"00"`` stay different.
"""

from __future__ import annotations

import queue
from concurrent.futures import ThreadPoolExecutor
import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np
import supervision as sv

from tracker.game.teams.colours import box_part

#: Key of the per-detection decided jersey number (str, "" when unknown) in ``sv.Detections.data``.
JERSEY_KEY = "jersey"

_NUMBER = re.compile(r"\d{1,2}")


def clean_number(text: str) -> str | None:
    """The jersey number in an OCR string, or None: one or two digits and nothing else
    (spaces ignored); ``"07"`` is not a jersey number (``"0"`` and ``"00"`` are)."""
    text = "".join(str(text).split())
    if not _NUMBER.fullmatch(text) or (len(text) == 2 and text[0] == "0" and text != "00"):
        return None
    return text


def torso_boxes(xyxy: np.ndarray, top: float = 0.12, bottom: float = 0.55, side: float = 0.08) -> np.ndarray:
    """``(N, 4)`` float32 xyxy of the torso of each ``(N, 4)`` person box, where a number is printed:
    rows ``top..bottom`` of the box height, less ``side`` of the width on each side (wider than
    :func:`tracker.game.teams.colours.torso_box`, whose colour sample keeps inside the arms: a
    two-digit number spans most of the chest)."""
    return box_part(xyxy, side, top, bottom)


def crop(image: np.ndarray, box: np.ndarray) -> np.ndarray | None:
    """A copy of ``image`` inside ``box`` (clipped), None when less than 4x4 pixels remain."""
    height, width = image.shape[:2]
    x1, y1 = max(0, int(box[0])), max(0, int(box[1]))
    x2, y2 = min(width, int(np.ceil(box[2]))), min(height, int(np.ceil(box[3])))
    if x2 - x1 < 4 or y2 - y1 < 4:
        return None
    return image[y1:y2, x1:x2].copy()


def ocr_available() -> bool:
    """Whether RapidOCR is installed (``pip install rapidocr-onnxruntime``)."""
    try:
        import rapidocr_onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


#: Windows of a torso crop (rows top..bottom, columns left..right, as fractions) where a number
#: printed on the chest or the upper back lies, for the recogniser-only reading: two row bands by
#: two widths (on the NBA clip's anchored torsos these four gave 41 of the 69 right window reads of
#: a grid of eight, and 2 of its 5 wrong ones, at half the cost).
NUMBER_WINDOWS = tuple((top, bottom, left, right) for top, bottom in ((0.25, 0.65), (0.2, 0.8))
                       for left, right in ((0.15, 0.85), (0.25, 0.75)))


def number_windows(image: np.ndarray, height: int = 48,
                   windows: Sequence[tuple[float, float, float, float]] = NUMBER_WINDOWS,
                   stretch: float = 1.0) -> list[np.ndarray]:
    """The ``windows`` of a torso crop, each resized (INTER_CUBIC) to ``height`` rows -- the
    recogniser's line height, so a 10-px number fills it as a text line would -- and ``stretch``
    times wider than the aspect keeps (jersey digits are condensed, the recogniser was trained on
    ordinary text)."""
    h, w = image.shape[:2]
    out = []
    for top, bottom, left, right in windows:
        piece = image[int(h * top) : max(int(h * top) + 1, int(h * bottom)),
                      int(w * left) : max(int(w * left) + 1, int(w * right))]
        scale = height / piece.shape[0]
        out.append(cv2.resize(piece, (max(1, round(piece.shape[1] * scale * stretch)), height),
                              interpolation=cv2.INTER_CUBIC))
    return out


class NumberReader:
    """Reads one jersey number per torso crop with RapidOCR.

    Args:
        height: crops are resized to this height (keeping the aspect) before OCR: numbers on a
            broadcast frame are a dozen pixels tall, the recogniser wants about 48.
        det_side: longest side the text detector works at (RapidOCR's default upsamples every
            image to 736 pixels, a second a crop on a CPU; a torso needs far less).
        min_score: text detections / recognitions below this score are ignored.
        threads: ONNX Runtime threads per model (1: the OCR thread takes one core at most and
            leaves the others to decoding, tracking and encoding).
        windows: when the detector finds no number, the recogniser reads these windows of the
            crop (:func:`number_windows`; :data:`NUMBER_WINDOWS` is the measured set); None or
            empty (the default): detector reads only. Windows read thin numbers the detector
            misses (a synthetic 8-px "11" through H.264), but on the shared 480p NBA clip they decided
            no new number (two right weak reads of #10, no wrong one) while making the OCR thread
            about 10x dearer per crop (34 vs 3 ms CPU, ``bench/jersey_numbers.py``): on a 2-core
            machine that thread takes CPU from the pipeline, so they are opt-in.
        stretch: the windows are this much wider than their aspect (on the NBA clip's anchored
            torsos of 9 labelled people, with a grid of eight windows, 1.6 gave 69 right window
            reads (of #30 and #10) and 5 wrong ones, against 60 right and 12 wrong without it).
        weak_score: a window's read counts when its score is at least this;
        weak_agree: ... and at least this many windows read the same number, more than read any
            other one. Its confidence is then ``weak_cap`` x the mean score of the agreeing
            windows x their share of the windows that read a number.

    The models are loaded and run in a thread of the reader's own: ONNX Runtime changes the
    floating-point state (denormal handling) of the thread it runs on, which would make the
    caller's later OpenCV and encoder results differ by a few levels.

    Raises:
        ImportError: RapidOCR is not installed.
    """

    def __init__(self, height: int = 96, det_side: int = 160, min_score: float = 0.5, threads: int = 1,
                 windows: Sequence[tuple[float, float, float, float]] | None = None,
                 stretch: float = 1.6, weak_score: float = 0.8, weak_agree: int = 2,
                 weak_cap: float = 0.45) -> None:
        from rapidocr_onnxruntime import RapidOCR

        self.height = height
        self.min_score = min_score
        self.windows = tuple(windows or ())
        self.stretch = stretch
        self.weak_score, self.weak_agree, self.weak_cap = weak_score, weak_agree, weak_cap
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="jersey-onnx")
        self._ocr = self._thread.submit(
            RapidOCR, det_limit_side_len=det_side, det_limit_type="max", text_score=min_score,
            intra_op_num_threads=threads, inter_op_num_threads=threads).result()

    def read_one(self, image: np.ndarray) -> tuple[str | None, float]:
        """``(number or None, confidence)`` for one BGR torso crop: the detector's read, else
        the windows' weak read (confidence at most ``weak_cap``)."""
        scale = self.height / max(1, image.shape[0])
        big = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
        result, _ = self._ocr(big, use_cls=False)
        best: tuple[str | None, float] = (None, 0.0)
        for _, text, score in result or ():
            number = clean_number(text)
            if number is not None and float(score) >= self.min_score and float(score) > best[1]:
                best = (number, float(score))
        if best[0] is None and self.windows:
            best = self.read_windows(image)
        return best

    def read_windows(self, image: np.ndarray) -> tuple[str | None, float]:
        """The weak read of one torso crop: the recogniser alone on its number windows."""
        result = self.recognise(number_windows(image, windows=self.windows, stretch=self.stretch))
        scores: dict[str, list[float]] = {}
        for text, score in result or ():
            number = clean_number(text)
            if number is not None and float(score) >= self.weak_score:
                scores.setdefault(number, []).append(float(score))
        if not scores:
            return None, 0.0
        ranked = sorted(scores, key=lambda n: len(scores[n]), reverse=True)
        top = scores[ranked[0]]
        if len(top) < self.weak_agree or (len(ranked) > 1 and len(scores[ranked[1]]) == len(top)):
            return None, 0.0
        share = len(top) / sum(len(v) for v in scores.values())
        return ranked[0], self.weak_cap * float(np.mean(top)) * share

    def recognise(self, lines: Sequence[np.ndarray]) -> list[tuple[str, float]]:
        """``(text, score)`` of each 48-px BGR line, recogniser only, in one batch padded to the
        widest line (RapidOCR's own ``use_det=False`` path pads every line to 320 px: 4x the work
        for a number window ~80 px wide)."""
        rec = self._ocr.text_rec
        ratio = max(line.shape[1] / line.shape[0] for line in lines)
        batch = np.stack([rec.resize_norm_img(line, ratio) for line in lines]).astype(np.float32)
        return [(r[0], float(r[1])) for r in rec.postprocess_op(rec.session(batch)[0])]

    def __call__(self, crops: Sequence[np.ndarray]) -> list[tuple[str | None, float]]:
        """One ``(number or None, confidence)`` per crop (read in the reader's thread)."""
        return self._thread.submit(lambda: [self.read_one(c) for c in crops]).result()

    def close(self) -> None:
        """Stop the reader's thread (after the read it is doing); the reader cannot read after this."""
        self._thread.shutdown(wait=True)


@dataclass
class NumberVote:
    """One track's number reads (see the module docstring)."""

    weight: dict[str, float] = field(default_factory=dict)
    count: dict[str, int] = field(default_factory=dict)
    decided: str | None = None
    recent: list[str] = field(default_factory=list)  # the last reads since the decision
    changed_to: str | None = None

    def add(self, number: str, confidence: float, min_reads: int, min_share: float,
            min_weight: float = 0.0, strong: float = 0.0) -> None:
        """One read. Decided: ``min_reads`` reads, ``min_share`` of the weight and ``min_weight``
        of it. After the decision only reads of confidence ``>= strong`` count towards a change."""
        self.weight[number] = self.weight.get(number, 0.0) + confidence
        self.count[number] = self.count.get(number, 0) + 1
        if self.decided is None:
            best = max(self.weight, key=self.weight.get)
            if self.count[best] >= min_reads and self.weight[best] >= max(min_weight, min_share * sum(self.weight.values())):
                self.decided = best
            return
        if confidence < strong:
            return
        self.recent = (self.recent + [number])[-2 * min_reads:]
        other = max(set(self.recent), key=self.recent.count)
        if other != self.decided and self.recent.count(other) >= max(min_reads, min_share * len(self.recent)):
            self.changed_to = other


class JerseyNumbers:
    """Per-track jersey numbers (see the module docstring).

    Args:
        reader: ``crops -> [(number or None, confidence)]``; default :class:`NumberReader`.
        min_box_height: person boxes shorter than this (pixels) are not read: the number would be
            a few pixels tall.
        every: frames between two reads of one track (consecutive frames say the same thing).
        recheck_every: frames between two reads of a track whose number is decided (to notice
            the tracker swapping it onto another player); None: never read it again.
        min_reads, min_share, min_weight: a number is decided with this many reads, this share of
            the weight and this weight (a detector read weighs its score, ~0.9; a weak windows read
            at most the reader's ``weak_cap``, 0.45: 1.5 takes two or three detector reads, or
            four or more weak ones).
        strong: reads below this confidence (weak reads) do not count towards a change of a
            decided number (a misread window must not split a track).
        max_tries: a track read this many times without a decision is not read again (its number
            is not legible at this size or angle; OCR time goes to the others).
        batch: crops per OCR call at most.
        max_queued: crops waiting for the worker at most; beyond that a frame's crops are skipped
            (the main thread never waits for OCR).
        threaded: run the OCR in a worker thread (False: at :meth:`submit`, for tests and benches).
    """

    def __init__(
        self,
        reader: Callable[[Sequence[np.ndarray]], list[tuple[str | None, float]]] | None = None,
        *,
        min_box_height: float = 60.0,
        every: int = 5,
        recheck_every: int | None = 30,
        min_reads: int = 3,
        min_share: float = 0.6,
        min_weight: float = 1.5,
        strong: float = 0.5,
        max_tries: int | None = 60,
        batch: int = 8,
        max_queued: int = 32,
        threaded: bool = True,
    ) -> None:
        self._owns_reader = reader is None  # closed with this object (a reader given is the caller's)
        self.reader = reader if reader is not None else NumberReader()
        self.min_box_height = min_box_height
        self.every = max(1, every)
        self.recheck_every = recheck_every
        self.min_reads = min_reads
        self.min_share = min_share
        self.min_weight = min_weight
        self.strong = strong
        self.max_tries = max_tries
        self._tries: dict[int, int] = {}
        self.batch = max(1, batch)
        self.threaded = threaded
        self.votes: dict[int, NumberVote] = {}
        self.reads = 0  # crops read so far
        self._last_read: dict[int, int] = {}
        self._todo: queue.Queue = queue.Queue(maxsize=max(1, max_queued))
        self._done: queue.Queue = queue.Queue()
        self._pending = 0
        self._worker: threading.Thread | None = None

    def number_of(self, track_id: int) -> str | None:
        """The decided number of a track (the latest one when it changed), or None."""
        vote = self.votes.get(int(track_id))
        if vote is None:
            return None
        return vote.changed_to or vote.decided

    def changed(self, track_id: int) -> str | None:
        """The new number when a decided track's reads now say another number, else None."""
        vote = self.votes.get(int(track_id))
        return None if vote is None else vote.changed_to

    def split(self, old: int, new: int) -> None:
        """Track ``old`` was split and its player goes on as ``new``: when the split came from a
        change of number, ``new`` wears the new number and ``old`` keeps its own."""
        vote = self.votes.get(int(old))
        if vote is None or vote.changed_to is None:
            return
        self.votes[int(new)] = NumberVote(decided=vote.changed_to)
        vote.changed_to, vote.recent = None, []

    def needs(self, track_id: int) -> bool:
        """True while a track's number is undecided (and it has not used up ``max_tries``)."""
        vote = self.votes.get(int(track_id))
        tried_out = self.max_tries is not None and self._tries.get(int(track_id), 0) >= self.max_tries
        return (vote is None or vote.decided is None) and not tried_out

    def submit(self, frame_index: int, image: np.ndarray, tracked: sv.Detections) -> None:
        """Queue the torsos of this frame's tracks that need reading (``tracked.tracker_id``)."""
        self.collect()
        if len(tracked) == 0 or tracked.tracker_id is None:
            return
        heights = tracked.xyxy[:, 3] - tracked.xyxy[:, 1]
        torsos = torso_boxes(tracked.xyxy)
        jobs = []
        for i, t in enumerate(int(t) for t in tracked.tracker_id):
            vote = self.votes.get(t)
            gap = self.every if self.needs(t) else self.recheck_every if vote and vote.decided else None
            if t < 0 or gap is None or heights[i] < self.min_box_height \
                    or frame_index - self._last_read.get(t, -10**9) < gap:
                continue
            piece = crop(image, torsos[i])
            if piece is not None:
                jobs.append((t, piece))
                self._last_read[t] = frame_index
                self._tries[t] = self._tries.get(t, 0) + 1
        for start in range(0, len(jobs), self.batch):
            chunk = jobs[start : start + self.batch]
            if not self.threaded:
                self._apply(chunk, self.reader([c for _, c in chunk]))
                continue
            self._start()
            try:
                self._todo.put_nowait(chunk)
                self._pending += 1
            except queue.Full:  # the worker is behind: skip this frame's crops, try again later
                for t, _ in chunk:
                    self._last_read.pop(t, None)
                    self._tries[t] -= 1

    def _start(self) -> None:
        if self._worker is None:
            self._worker = threading.Thread(target=self._work, name="jersey-ocr", daemon=True)
            self._worker.start()

    def _work(self) -> None:
        while True:
            chunk = self._todo.get()
            if chunk is None:
                return
            try:
                self._done.put((chunk, self.reader([c for _, c in chunk])))
            except BaseException as exc:  # surfaced on the main thread at the next collect()
                self._done.put((chunk, exc))

    def _apply(self, chunk, results) -> None:
        for (t, _), (number, confidence) in zip(chunk, results):
            self.reads += 1
            if number is not None:
                self.votes.setdefault(t, NumberVote()).add(number, confidence, self.min_reads, self.min_share,
                                                           self.min_weight, self.strong)

    def collect(self, wait: bool = False) -> None:
        """Apply the reads the worker has finished (all queued ones when ``wait``)."""
        while self._pending:
            try:
                chunk, results = self._done.get(block=wait)
            except queue.Empty:
                return
            self._pending -= 1
            if isinstance(results, BaseException):
                raise results
            self._apply(chunk, results)

    def close(self) -> None:
        """Stop the worker (pending reads are dropped; the read under way is finished first, so none
        lands after this) and the reader when this object made it."""
        if self._worker is not None:
            while True:
                try:
                    self._todo.get_nowait()
                except queue.Empty:
                    break
            self._todo.put(None)
            self._worker.join()
            self._worker = None
            self._pending = 0
            self._done = queue.Queue()
        if self._owns_reader and hasattr(self.reader, "close"):
            self.reader.close()

    def summary(self) -> dict:
        """``{"reads": crops read, "decided": tracks with a number}``."""
        return {"reads": self.reads, "decided": sum(v.decided is not None for v in self.votes.values())}
