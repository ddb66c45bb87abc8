"""Synthetic game videos with known ground truth, for the tests.

:func:`make_video` writes a real encoded mp4 (H.264 by default, through PyAV)
of coloured, person-shaped rectangles ("players") moving along known paths over
a textured court, optionally under a simulated camera pan and with an AAC sine
tone, and returns the ground truth boxes and IDs of every frame.

Coordinates. Paths are given in *world* pixels. A camera pan of
``pan_px_per_frame = (dx, dy)`` moves the whole scene, background included, by
``(dx, dy)`` image pixels per frame: a world point ``p`` is drawn at
``p + t * (dx, dy)`` on frame ``t``. With no pan, world = image pixels.

Ground truth boxes are the drawn rectangles, clipped to the frame, in image
pixels ``xyxy`` with exclusive right/bottom edges (a box ``[10, 20, 32, 70]``
covers columns 10..31 and rows 20..69). An object is in the ground truth of a
frame when at least 4x4 pixels of it are visible.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import supervision as sv

from tracker.game.teams.assigner import REFEREE

#: Player body colours (BGR), picked by object id.
PALETTE: tuple[tuple[int, int, int], ...] = (
    (40, 40, 220),
    (220, 80, 30),
    (40, 190, 40),
    (200, 40, 200),
    (30, 200, 220),
    (230, 230, 230),
    (20, 20, 20),
    (140, 90, 250),
)
#: Default player box (width, height) in pixels: tall like a person.
PLAYER_SIZE = (22, 50)
MIN_VISIBLE_PX = 4


@dataclass(frozen=True)
class SynthObject:
    """One player.

    Attributes:
        object_id: ground-truth ID (>= 0).
        centers: ``(n_frames, 2)`` float world ``(x, y)`` box centre per frame,
            NaN on frames where the object is absent.
        size: box ``(width, height)`` in pixels.
        color: body colour, BGR.
        number: jersey number printed on the torso (white or black, whichever shows), or None.
    """

    object_id: int
    centers: np.ndarray
    size: tuple[int, int] = PLAYER_SIZE
    color: tuple[int, int, int] | None = None
    number: str | None = None

    @property
    def bgr(self) -> tuple[int, int, int]:
        return self.color if self.color is not None else PALETTE[self.object_id % len(PALETTE)]


def _span(n_frames: int, first: int, last: int | None) -> np.ndarray:
    """``(n_frames,)`` bool: frames ``first..last`` (inclusive; ``None`` = to the end)."""
    frames = np.arange(n_frames)
    return (frames >= first) & (frames <= (n_frames - 1 if last is None else last))


def linear_path(
    n_frames: int,
    fps: float,
    start: tuple[float, float],
    velocity_px_s: tuple[float, float],
    first: int = 0,
    last: int | None = None,
) -> np.ndarray:
    """``(n_frames, 2)`` centres moving from ``start`` (at frame ``first``) at ``velocity_px_s`` (px/s).

    NaN outside frames ``first..last``.
    """
    t = (np.arange(n_frames) - first) / fps
    centers = np.asarray(start, float)[None, :] + t[:, None] * np.asarray(velocity_px_s, float)[None, :]
    centers[~_span(n_frames, first, last)] = np.nan
    return centers


def standing_path(n_frames: int, position: tuple[float, float], first: int = 0, last: int | None = None) -> np.ndarray:
    """``(n_frames, 2)`` centres standing still at ``position`` (NaN outside ``first..last``)."""
    return linear_path(n_frames, 1.0, position, (0.0, 0.0), first, last)


def crossing_paths(
    n_frames: int,
    fps: float,
    size: tuple[int, int] = (320, 240),
    speed_px_s: float = 90.0,
    angle_deg: float = 30.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Two ``(n_frames, 2)`` paths that cross at the frame centre halfway through the video.

    Both move at ``speed_px_s``, one left-to-right, the other right-to-left, each
    tilted by ``angle_deg`` from horizontal in opposite senses (an X).
    """
    centre = np.array([size[0] / 2.0, size[1] / 2.0])
    mid = (n_frames - 1) / 2.0
    a = np.deg2rad(angle_deg)
    v1 = speed_px_s * np.array([np.cos(a), np.sin(a)])
    v2 = speed_px_s * np.array([-np.cos(a), np.sin(a)])
    t = (np.arange(n_frames) - mid) / fps
    return centre + t[:, None] * v1, centre + t[:, None] * v2


def player(object_id: int, centers: np.ndarray, size: tuple[int, int] = PLAYER_SIZE, color=None,
           number: str | None = None) -> SynthObject:
    """Shorthand for :class:`SynthObject`."""
    return SynthObject(object_id, np.asarray(centers, float), tuple(size), color, number)


@dataclass(frozen=True)
class SynthBall:
    """A ball (or a ball-coloured decoy) drawn over the players.

    Attributes:
        centers: ``(n_frames, 2)`` world centres, NaN where absent.
        diameter: pixels.
        shape: ``"disc"`` (a ball, a round logo) or ``"rect"`` (a sneaker: ``size`` wide and high).
        color: BGR, a basketball's orange-brown by default.
    """

    centers: np.ndarray
    diameter: int = 9
    shape: str = "disc"
    size: tuple[int, int] = (0, 0)
    color: tuple[int, int, int] = (25, 60, 150)


def _draw_ball(img: np.ndarray, c: np.ndarray, ball: SynthBall) -> None:
    if ball.shape == "rect":
        w, h = ball.size
        x1, y1 = int(round(c[0] - w / 2)), int(round(c[1] - h / 2))
        cv2.rectangle(img, (x1, y1), (x1 + w - 1, y1 + h - 1), ball.color, -1)
    else:
        cv2.circle(img, (int(round(c[0])), int(round(c[1]))), max(1, ball.diameter // 2), ball.color, -1,
                   lineType=cv2.LINE_AA)


@dataclass
class GroundTruth:
    """What :func:`make_video` drew.

    Attributes:
        path: the video file.
        size: ``(width, height)``.
        fps: frame rate.
        boxes: per frame, ``(N, 4)`` float32 image ``xyxy`` of the visible objects.
        ids: per frame, ``(N,)`` int64 their object IDs (same order as ``boxes``).
        pan_px_per_frame: the simulated camera pan ``(dx, dy)``.
        objects: the specs drawn.
    """

    path: Path
    size: tuple[int, int]
    fps: float
    boxes: list[np.ndarray]
    ids: list[np.ndarray]
    pan_px_per_frame: tuple[float, float] = (0.0, 0.0)
    objects: list[SynthObject] = field(default_factory=list)
    has_audio: bool = False

    @property
    def n_frames(self) -> int:
        return len(self.boxes)

    def frames_of(self, object_id: int) -> np.ndarray:
        """``(K,)`` the frame indices on which ``object_id`` is visible."""
        return np.array([t for t, ids in enumerate(self.ids) if object_id in ids], dtype=np.int64)

    def box_of(self, object_id: int, frame: int) -> np.ndarray | None:
        """``(4,)`` xyxy of ``object_id`` on ``frame``, or ``None`` if not visible."""
        hit = np.flatnonzero(self.ids[frame] == object_id)
        return self.boxes[frame][hit[0]] if len(hit) else None


def court_texture(width: int, height: int, seed: int = 0) -> np.ndarray:
    """``(height, width, 3)`` uint8 BGR wooden-court texture with lines and speckles (trackable corners)."""
    rng = np.random.default_rng(seed)
    base = np.empty((height, width, 3), np.float32)
    base[:] = (90, 150, 205)  # parquet
    coarse = rng.normal(0.0, 18.0, (max(2, height // 24), max(2, width // 24), 1)).astype(np.float32)
    base += cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC)[..., None]
    base += rng.normal(0.0, 6.0, (height, width, 1)).astype(np.float32)
    img = np.clip(base, 0, 255).astype(np.uint8)
    for _ in range(max(1, width * height // 400)):  # dark speckles: corners for optical flow
        x, y = int(rng.integers(0, width)), int(rng.integers(0, height))
        r = int(rng.integers(1, 4))
        shade = int(rng.integers(20, 90))
        cv2.rectangle(img, (x, y), (x + r, y + r), (shade, shade + 20, shade + 40), -1)
    for x in range(int(rng.integers(20, 60)), width, 160):  # court lines
        cv2.line(img, (x, 0), (x, height - 1), (245, 245, 245), 2)
    for y in range(int(rng.integers(20, 60)), height, 140):
        cv2.line(img, (0, y), (width - 1, y), (245, 245, 245), 2)
    for cx in range(80, width, 240):
        cv2.circle(img, (cx, height // 2), 40, (245, 245, 245), 2)
    return img


def _draw_player(img: np.ndarray, x1: int, y1: int, w: int, h: int, color: tuple[int, int, int],
                 number: str | None = None) -> None:
    """A person-ish block: skin-tone head, jersey in ``color`` (``number`` on the torso), dark shorts."""
    cv2.rectangle(img, (x1, y1), (x1 + w - 1, y1 + h - 1), color, -1)
    head = max(1, h // 5)
    cv2.rectangle(img, (x1 + w // 4, y1), (x1 + w - 1 - w // 4, y1 + head - 1), (120, 160, 210), -1)
    shorts = max(1, h // 4)
    dark = tuple(int(c * 0.4) for c in color)
    cv2.rectangle(img, (x1, y1 + h - shorts), (x1 + w - 1, y1 + h - 1), dark, -1)
    if number:
        scale, thick = h / 150, max(1, h // 45)
        (tw, th), _ = cv2.getTextSize(number, cv2.FONT_HERSHEY_SIMPLEX, scale, thick)
        ink = (30, 30, 30) if sum(color) > 450 else (255, 255, 255)
        org = (x1 + (w - tw) // 2, y1 + h * 36 // 100 + th // 2)
        cv2.putText(img, number, org, cv2.FONT_HERSHEY_SIMPLEX, scale, ink, thick, cv2.LINE_AA)


def make_video(
    path: str | Path,
    size: tuple[int, int] = (320, 240),
    n_frames: int = 60,
    fps: float = 30.0,
    objects: Sequence[SynthObject] = (),
    pan_px_per_frame: tuple[float, float] = (0.0, 0.0),
    background: str = "court",
    audio: bool = False,
    codec: str = "libx264",
    seed: int = 0,
    balls: Sequence[SynthBall] = (),
) -> GroundTruth:
    """Write a synthetic game video and return its ground truth.

    Args:
        path: output ``.mp4`` (or another container PyAV can write).
        size: ``(width, height)``, even numbers for yuv420p.
        n_frames: number of frames.
        fps: frame rate.
        objects: players to draw, in drawing order (later ones occlude earlier
            ones); each ``centers`` must have ``n_frames`` rows.
        pan_px_per_frame: simulated camera pan, image px per frame (see module doc).
        background: ``"court"`` (textured, with features) or ``"plain"`` (flat grey-green).
        audio: add an AAC mono 440 Hz sine track of the video's duration.
        codec: video encoder name (``"libx264"``, ``"mpeg4"``, ...).
        seed: texture seed.
        balls: balls and ball-coloured decoys, drawn over the players (world coordinates like
            theirs; a decoy on the floor pans with the court). Not in ``boxes``/``ids``.
    """
    path = Path(path)
    width, height = size
    if width % 2 or height % 2:
        raise ValueError(f"size must be even for yuv420p, got {size}")
    for obj in objects:
        if obj.centers.shape != (n_frames, 2):
            raise ValueError(f"object {obj.object_id}: centers {obj.centers.shape} != ({n_frames}, 2)")
    pan = np.asarray(pan_px_per_frame, float)
    shift_end = pan * (n_frames - 1)
    # Canvas of world points seen on any frame: frame t shows world [-pan*t, -pan*t + size].
    lo = np.floor(np.minimum(0.0, -shift_end)) - 2
    hi = np.ceil(np.maximum(0.0, -shift_end)) + np.array([width, height]) + 2
    cw, ch = int(hi[0] - lo[0]), int(hi[1] - lo[1])
    if background == "court":
        canvas = court_texture(cw, ch, seed)
    elif background == "plain":
        canvas = np.full((ch, cw, 3), (70, 110, 80), np.uint8)
    else:
        raise ValueError(f"background must be 'court' or 'plain', got {background!r}")

    rate = Fraction(fps).limit_denominator(1001)
    truth = GroundTruth(path, (width, height), float(fps), [], [], tuple(pan_px_per_frame), list(objects), audio)
    with av.open(str(path), "w") as container:
        vstream = container.add_stream(codec, rate=rate)
        vstream.width, vstream.height, vstream.pix_fmt = width, height, "yuv420p"
        if codec == "libx264":
            vstream.options = {"crf": "18", "preset": "veryfast"}
        astream = container.add_stream("aac", rate=44100, layout="mono") if audio else None
        audio_samples = 0
        for t in range(n_frames):
            origin = -pan * t - lo  # canvas coords of the image's top-left
            m = np.array([[1.0, 0.0, -origin[0]], [0.0, 1.0, -origin[1]]])
            img = cv2.warpAffine(canvas, m, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
            boxes, ids = [], []
            for obj in objects:
                c = obj.centers[t]
                if not np.isfinite(c).all():
                    continue
                w, h = obj.size
                x1 = int(round(c[0] + pan[0] * t - w / 2.0))
                y1 = int(round(c[1] + pan[1] * t - h / 2.0))
                _draw_player(img, x1, y1, w, h, obj.bgr, obj.number)
                box = np.clip([x1, y1, x1 + w, y1 + h], 0, [width, height, width, height])
                if box[2] - box[0] >= MIN_VISIBLE_PX and box[3] - box[1] >= MIN_VISIBLE_PX:
                    boxes.append(box)
                    ids.append(obj.object_id)
            for ball in balls:
                if np.isfinite(ball.centers[t]).all():
                    _draw_ball(img, ball.centers[t] + pan * t, ball)
            truth.boxes.append(np.array(boxes, np.float32).reshape(-1, 4))
            truth.ids.append(np.array(ids, np.int64))
            frame = av.VideoFrame.from_ndarray(img, format="bgr24")
            frame.pts = t
            frame.time_base = 1 / rate
            container.mux(vstream.encode(frame))
            if astream is not None:
                audio_samples = _write_tone(container, astream, audio_samples, (t + 1) / float(rate))
        container.mux(vstream.encode())
        if astream is not None:
            container.mux(astream.encode())
    return truth


def _write_tone(container, astream, done: int, until_s: float, hz: float = 440.0) -> int:
    """Encode the sine tone from sample ``done`` up to time ``until_s``; return samples written."""
    rate = astream.rate
    chunk = 1024
    while done < int(until_s * rate):
        t = (done + np.arange(chunk)) / rate
        samples = (0.2 * np.sin(2 * np.pi * hz * t)).astype(np.float32)[None, :]
        frame = av.AudioFrame.from_ndarray(samples, format="fltp", layout="mono")
        frame.sample_rate = rate
        frame.pts = done
        frame.time_base = Fraction(1, rate)
        container.mux(astream.encode(frame))
        done += chunk
    return done


def join_videos(path: str | Path, parts: Sequence[GroundTruth], id_offsets: Sequence[int] | None = None) -> GroundTruth:
    """One video made of ``parts`` one after the other (hard cuts between them), re-encoded with
    libx264; their ground truths joined, each part's object IDs plus its ``id_offsets`` entry
    (default ``1000 * part``: different clips, different players; give zeros for a clip joined
    to itself, whose players are the same people). All parts must share size and fps."""
    path = Path(path)
    offsets = list(id_offsets) if id_offsets is not None else [1000 * k for k in range(len(parts))]
    width, height = parts[0].size
    rate = Fraction(parts[0].fps).limit_denominator(1001)
    truth = GroundTruth(path, (width, height), parts[0].fps, [], [])
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=rate)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"crf": "18", "preset": "veryfast"}
        t = 0
        for part, offset in zip(parts, offsets):
            if part.size != (width, height):
                raise ValueError(f"join_videos: {part.path} is {part.size}, not {(width, height)}")
            for image in read_frames(part.path):
                frame = av.VideoFrame.from_ndarray(image, format="bgr24")
                frame.pts, frame.time_base = t, 1 / rate
                container.mux(stream.encode(frame))
                t += 1
            truth.boxes.extend(part.boxes)
            truth.ids.extend(ids + offset for ids in part.ids)
            truth.objects.extend(part.objects)
        container.mux(stream.encode())
    return truth


def read_frames(path: str | Path) -> list[np.ndarray]:
    """Decode every video frame of ``path`` with PyAV: a list of ``(H, W, 3)`` uint8 BGR."""
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="bgr24") for f in container.decode(video=0)]


class GroundTruthDetector:
    """A detector stand-in that returns the known boxes (tracker tests only).

    Called like the real detector, ``detector(frames) -> list[sv.Detections]``;
    it hands out ground-truth frames in call order (the frames' pixels are not
    looked at, only counted). Each detection has class 0, confidence
    ``confidence`` and ``data["gt_id"]`` (the object ID), so a test can tell
    which object a tracked row is.

    Args:
        truth: what :func:`make_video` returned.
        jitter_px: std of Gaussian noise added to each box coordinate.
        drop_rate: probability that a box is missing on a frame.
        drops: ``{object_id: frames}``: boxes removed on exactly those frames.
        confidence: the score of every detection.
        seed: for jitter and drop-outs.
    """

    def __init__(
        self,
        truth: GroundTruth,
        jitter_px: float = 0.0,
        drop_rate: float = 0.0,
        drops: dict[int, Iterable[int]] | None = None,
        confidence: float = 0.9,
        seed: int = 0,
    ) -> None:
        self.truth = truth
        self.jitter_px = float(jitter_px)
        self.drop_rate = float(drop_rate)
        self.drops = {int(k): {int(f) for f in v} for k, v in (drops or {}).items()}
        self.confidence = float(confidence)
        self._rng = np.random.default_rng(seed)
        self._next = 0

    def __call__(self, frames: list[np.ndarray]) -> list[sv.Detections]:
        out = []
        for _ in frames:
            t = self._next
            if t >= self.truth.n_frames:
                raise IndexError(f"GroundTruthDetector: asked for frame {t} of a {self.truth.n_frames}-frame video")
            self._next += 1
            boxes, ids = self.truth.boxes[t].astype(np.float64), self.truth.ids[t]
            keep = np.array([t not in self.drops.get(int(i), ()) for i in ids], dtype=bool)
            if self.drop_rate > 0:
                keep &= self._rng.random(len(ids)) >= self.drop_rate
            if self.jitter_px > 0:
                boxes = boxes + self._rng.normal(0.0, self.jitter_px, boxes.shape)
            boxes, ids = boxes[keep], ids[keep]
            out.append(
                sv.Detections(
                    xyxy=boxes.reshape(-1, 4).astype(np.float32),
                    confidence=np.full(len(ids), self.confidence, np.float32),
                    class_id=np.zeros(len(ids), np.int64),
                    data={"gt_id": ids.astype(np.int64)},
                )
            )
        return out


# ------------------------------------------------------------------ a game scene: floor, crowd, teams, referees
# A broadcast-like frame for the "who is playing" tests: a wooden floor below row GAME_TOP, a busy
# crowd above it, players drawn with skin, jersey (torso) and shorts so torso/shorts colours can be
# read, and spectators in the stands wearing the teams' colours.

GAME_H, GAME_W = 240, 320
GAME_TOP = 70  # first floor row; the crowd is above
WOOD = np.array([70, 135, 195], np.float32)  # BGR

RED, BLUE = (40, 40, 200), (200, 90, 30)
WHITE, NAVY = (235, 235, 235), (90, 35, 20)


def game_background(rng: np.random.Generator) -> np.ndarray:
    shade = np.repeat(rng.uniform(-14, 14, size=(GAME_H // 6 + 1, 1, 1)), 6, axis=0)[:GAME_H]
    img = np.clip(WOOD + shade + rng.normal(0, 4, size=(GAME_H, GAME_W, 3)), 0, 255).astype(np.uint8)
    img[:GAME_TOP] = 40
    for _ in range(GAME_TOP * GAME_W // 30):  # a busy crowd of random colours
        y, x = rng.integers(0, GAME_TOP), rng.integers(0, GAME_W)
        img[y : y + 5, x : x + 4] = rng.integers(0, 256, 3)
    img[150:152] = 235  # a court line
    return img


def draw_person(img: np.ndarray, box, shirt, shorts=(30, 30, 30), skin=(90, 125, 175)) -> None:
    """``shirt`` is a BGR colour or ``"stripes"`` (2-px black and white vertical stripes)."""
    x1, y1, x2, y2 = (int(round(v)) for v in box)
    w, h = x2 - x1, y2 - y1
    cx = (x1 + x2) // 2
    rows = slice(max(0, y1 + h * 15 // 100), max(0, y1 + h * 50 // 100))
    sl = (rows, slice(max(0, x1 + w // 6), max(0, x2 - w // 6)))
    img[max(0, y1) : max(0, y1 + h * 15 // 100), max(0, cx - w // 5) : max(0, cx + w // 5)] = skin
    if isinstance(shirt, str):
        torso = img[sl]
        cols = np.arange(torso.shape[1])
        torso[:] = np.where(((cols // 2) % 2 == 0)[None, :, None], 20, 235).astype(np.uint8)
    else:
        img[sl] = shirt
    img[max(0, y1 + h * 15 // 100) : max(0, y1 + h * 45 // 100), max(0, x1) : max(0, x1 + w // 6)] = skin
    img[max(0, y1 + h * 15 // 100) : max(0, y1 + h * 45 // 100), max(0, x2 - w // 6) : max(0, x2)] = skin
    img[max(0, y1 + h * 50 // 100) : max(0, y1 + h * 65 // 100), max(0, x1 + w // 6) : max(0, x2 - w // 6)] = shorts
    img[max(0, y1 + h * 65 // 100) : max(0, y2), max(0, x1 + w // 6) : max(0, cx - 1)] = skin
    img[max(0, y1 + h * 65 // 100) : max(0, y2), max(0, cx + 1) : max(0, x2 - w // 6)] = skin


def person_box_at(feet_x: float, feet_y: float) -> np.ndarray:
    height = 0.25 * feet_y + 25  # nearer the camera, taller
    return np.array([feet_x - 0.2 * height, feet_y - height, feet_x + 0.2 * height, feet_y], np.float32)


def make_game(shirts: dict[str, object], n_frames: int = 60, track_len: int = 20, seed: int = 0):
    """A synthetic game: 5 + 5 players, 2 referees, 5 spectators in the stands.

    Every player's life is cut into tracks of ``track_len`` frames, each with a new
    tracker ID (as after occlusions), so there are many tracks to classify.

    Returns:
        frames: list of ``(GAME_H, GAME_W, 3)`` BGR frames;
        per_frame: list of ``(boxes (N, 4), tracker_ids (N,))`` for the people on the floor,
            followed by the spectators' boxes with tracker IDs >= 900;
        truth: tracker ID -> "A", "B" or "referee".
    """
    rng = np.random.default_rng(seed)
    people = [("A", shirts["A"])] * 5 + [("B", shirts["B"])] * 5 + [(REFEREE, shirts[REFEREE])] * 2
    # spread over the floor (x slots shuffled between teams), so nobody hides behind others all along
    xs = rng.permutation(np.linspace(18, GAME_W - 18, len(people)))
    start = np.stack([xs, rng.uniform(GAME_TOP + 45, GAME_H - 8, len(people))], 1)
    phase = rng.uniform(0, 2 * np.pi, size=(len(people), 2))
    fans_feet = rng.uniform([20, 30], [GAME_W - 20, GAME_TOP - 6], size=(5, 2))
    spectators = [np.array([x - 8, y - 40, x + 8, y], np.float32) for x, y in fans_feet]
    frames, per_frame, truth = [], [], {}
    for f in range(n_frames):
        img = game_background(rng)
        for k, box in enumerate(spectators):
            draw_person(img, box, shirt=RED if k % 2 else BLUE)  # fans wear the teams' colours
        feet = start + np.stack([28 * np.sin(0.05 * f + phase[:, 0]), 12 * np.sin(0.04 * f + phase[:, 1])], axis=1)
        feet[:, 0] = np.clip(feet[:, 0], 15, GAME_W - 15)
        feet[:, 1] = np.clip(feet[:, 1], GAME_TOP + 40, GAME_H - 2)
        boxes, ids = [], []
        for p in np.argsort(feet[:, 1]):  # far to near: nearer players occlude
            team, shirt = people[p]
            box = person_box_at(*feet[p])
            draw_person(img, box, shirt)
            tid = 1 + p * 10 + f // track_len
            truth[tid] = team
            boxes.append(box)
            ids.append(tid)
        boxes += spectators
        ids += [900 + k for k in range(len(spectators))]
        frames.append(img)
        per_frame.append((np.array(boxes, np.float32), np.array(ids)))
    return frames, per_frame, truth


def encode_decode(frames: list[np.ndarray], path: Path, crf: int = 23) -> list[np.ndarray]:
    """An H.264 round trip (blur, chroma subsampling) of BGR ``frames`` through ``path``: the decoded frames."""
    height, width = frames[0].shape[:2]
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"crf": str(crf), "threads": "1"}  # one thread: the same bytes on any machine, any load
        for frame in frames:
            out.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="bgr24")))
        out.mux(stream.encode())
    return read_frames(path)


def _demo(argv: list[str] | None = None) -> None:
    """``python -m tests.synth OUT.mp4``: a 6-second 640x360 clip of 6 players (4 moving, 2 standing), with audio."""
    import argparse

    ap = argparse.ArgumentParser(description=_demo.__doc__)
    ap.add_argument("output", type=Path)
    args = ap.parse_args(argv)
    n, fps, size = 180, 30.0, (640, 360)
    rng = np.random.default_rng(1)
    objects = [player(k, linear_path(n, fps, (rng.uniform(60, 580), rng.uniform(120, 300)),
                                     (rng.uniform(-80, 80), rng.uniform(-20, 20))), size=(24, 60))
               for k in range(4)]
    objects += [player(4, standing_path(n, (120, 200)), size=(24, 60)), player(5, standing_path(n, (500, 240)),
                                                                               size=(24, 60))]
    truth = make_video(args.output, size=size, n_frames=n, fps=fps, objects=objects, pan_px_per_frame=(0.5, 0.0),
                       audio=True)
    print(f"wrote {truth.path}: {n} frames at {fps:g} fps, {len(objects)} players")


if __name__ == "__main__":
    _demo()
