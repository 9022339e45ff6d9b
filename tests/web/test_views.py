"""An event's outputs come from its view type's fields, so the handler's tuple and the layout's
component list can't disagree on order."""

from __future__ import annotations

import pytest

from rag.web.views import PageView, UploadView, outputs


def test_outputs_follow_the_fields_order_whatever_the_components_order():
    components = {name: f"<{name}>" for name in reversed(PageView._fields)}
    assert outputs(PageView, components) == [f"<{name}>" for name in PageView._fields]
    assert outputs(UploadView, components | {"upload_status": "<status>"})[0] == "<status>"


def test_a_view_naming_a_component_the_layout_lacks_fails_when_the_ui_is_built():
    with pytest.raises(KeyError, match="upload_status"):
        outputs(UploadView, {"docs": 1, "sample": 2})
