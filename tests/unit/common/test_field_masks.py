"""common.field_masks: what an Update changes."""

from __future__ import annotations

import pytest
from google.protobuf.field_mask_pb2 import FieldMask

from common.errors import InvalidArgument
from common.field_masks import is_set, update_fields
from csms.transaction.v1 import transaction_service_pb2 as pb

WRITABLE = {"name": "name", "limit": "limit", "min_limit": "min_limit", "evses": "evses"}
GIVEN = {"name": "", "limit": 0.0, "min_limit": 6.0, "evses": ()}


def test_no_mask_takes_the_fields_the_body_sets() -> None:
    site = pb.Site(id="s", min_limit=6.0)
    assert is_set(site, "min_limit") and not is_set(site, "name") and not is_set(site, "evses")
    assert update_fields(site, FieldMask(), WRITABLE, GIVEN) == {"min_limit": 6.0}


def test_a_mask_takes_its_fields_even_when_empty_in_the_body() -> None:
    site = pb.Site(id="s")
    got = update_fields(site, FieldMask(paths=["name", "limit"]), WRITABLE, GIVEN)
    assert got == {"name": "", "limit": 0.0}


def test_a_mask_naming_what_is_not_writable_is_refused() -> None:
    with pytest.raises(InvalidArgument, match="update_mask: id, allocations not writable"):
        update_fields(pb.Site(), FieldMask(paths=["id", "limit", "allocations"]), WRITABLE, GIVEN)
