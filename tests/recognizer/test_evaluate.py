"""bball-eval's numbers: macro-F1 over the classes that have clips, per-class rows for every class."""

from __future__ import annotations

import numpy as np
import pytest

from recognizer.evaluate import compute_metrics, report_text

LABELS = [f"class{i}" for i in range(10)]


def test_macro_f1_averages_the_classes_with_clips_only():
    """Hand-worked: classes 0-2 have clips, 3-9 none. F1: class0 1.0 (2/2 right, none wrongly predicted),
    class1 2/3 (precision 1, recall 1/2), class2 0.8 (precision 2/3, recall 1); a wrong guess of class5
    costs class0's recall but adds no class to the average."""
    y_true = np.array([0, 0, 0, 1, 1, 2, 2])
    y_pred = np.array([0, 0, 5, 1, 2, 2, 2])
    m = compute_metrics(y_true, y_pred, LABELS)
    f1_class0 = 2 * 1.0 * (2 / 3) / (1.0 + 2 / 3)  # precision 1, recall 2/3 -> 0.8
    expected = (f1_class0 + 2 / 3 + 0.8) / 3
    assert m["macro_f1"] == pytest.approx(expected)  # 0.7556; over all 10 classes it would be 0.2267
    assert m["macro_f1_classes"] == ["class0", "class1", "class2"]
    assert set(m["per_class"]) == set(LABELS)  # a row for every class, absent ones included
    assert m["per_class"]["class5"]["support"] == 0 and m["per_class"]["class5"]["precision"] == 0
    assert m["balanced_accuracy"] == pytest.approx((2 / 3 + 1 / 2 + 1) / 3)
    text = report_text(m)
    assert f"macro-F1 over the 3 classes with clips (class0, class1, class2): {expected:.4f}" in text
    assert "classes without clips here (rows above, not in the average): class3, class4, class5" in text
    assert all(name in text for name in LABELS)
