"""No text on any card the product builds falls under WCAG's 4.5:1 against its background.

Every builder of the ``cards`` package (discovered in ``tests/cards/samples.py``) is built from
representative views and read in Teams' light and dark host configs and the Agents Playground's
(``tests/cards/host_configs.py``); each TextBlock, TextRun, fact and input label is measured
against the background of the container it sits in.
"""

from __future__ import annotations

import pytest

from cards import to_json
from tests.cards.contrast import MINIMUM, measures, over, parse, ratio
from tests.cards.host_configs import HOST_CONFIGS
from tests.cards.samples import BUILDERS, SAMPLES, all_cases

CASES = all_cases()


def test_every_builder_has_samples() -> None:
    missing = sorted(set(BUILDERS) - set(SAMPLES))
    assert not missing, f"add representative views for {missing} to tests/cards/samples.py"
    assert not sorted(set(SAMPLES) - set(BUILDERS)), "samples for builders that don't exist"
    assert all(SAMPLES[name] for name in BUILDERS)


@pytest.mark.parametrize("host", sorted(HOST_CONFIGS))
@pytest.mark.parametrize("name", sorted(CASES))
def test_text_contrast(name: str, host: str) -> None:
    found = measures(to_json(CASES[name]()), HOST_CONFIGS[host])
    assert found, "no text measured"
    low = [m.describe() for m in found if m.ratio < MINIMUM]
    assert not low, "\n".join(low)


def test_the_measure_matches_wcag_reference_values() -> None:
    white, black = (255.0, 255.0, 255.0), (0.0, 0.0, 0.0)
    assert ratio(white, black) == pytest.approx(21.0)
    assert ratio(white, white) == pytest.approx(1.0)
    assert ratio(over("#767676", white), white) == pytest.approx(4.54, abs=0.01)
    assert parse("#80000000") == ((0, 0, 0), pytest.approx(128 / 255))
    assert over("#80000000", white) == pytest.approx((127.0, 127.0, 127.0), abs=0.5)


def test_the_check_catches_coloured_text_on_a_styled_box() -> None:
    card = {
        "type": "AdaptiveCard",
        "body": [
            {
                "type": "Container",
                "style": "warning",
                "items": [{"type": "TextBlock", "text": "x", "color": "Warning"}],
            },
            {
                "type": "ActionSet",
                "actions": [
                    {
                        "type": "Action.ShowCard",
                        "card": {"body": [{"type": "TextBlock", "text": "y", "color": "Good"}]},
                    }
                ],
            },
        ],
    }
    for host in HOST_CONFIGS.values():
        found = measures(card, host)
        assert [m.style for m in found] == ["warning", "emphasis"]
        assert found[0].ratio < MINIMUM
