"""The action bench's anchors: several per name, each holding from its frame on."""

from bench.actions_vs_labels import track_for


def test_one_anchor_holds_for_every_frame():
    assert [track_for([(40, 7)], f) for f in (0, 40, 500)] == [7, 7, 7]


def test_later_anchor_takes_over_from_its_frame():
    tracks = [(24, 9), (93, 10), (112, None)]  # None: the anchor point fell in no box
    assert [track_for(tracks, f) for f in (0, 24, 92, 93, 111, 112, 164)] == [9, 9, 9, 10, 10, None, None]
