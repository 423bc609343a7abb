from __future__ import annotations

from webapp.profiles.selectors import AxisWeight


def test_axis_weights_are_formatted_for_the_panel_without_a_negative_zero() -> None:
    axis = AxisWeight(name="brevity", label="brevity", weight=-0.0004, stddev=0.1234)
    assert (axis.weight_text, axis.stddev_text, axis.weight_css, axis.stddev_css) == ("0.00", "0.12", "0.000", "0.123")
    assert AxisWeight(name="a", label="a", weight=-0.456, stddev=1.0).weight_text == "-0.46"
