"""The fields an Update method changes: AIP-134's update_mask, or without one the fields the
body sets (how PATCH is used over REST)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from google.protobuf.field_mask_pb2 import FieldMask
from google.protobuf.message import Message

from common.errors import InvalidArgument

__all__ = ["is_set", "update_fields"]


def is_set(message: Message, name: str) -> bool:
    """Whether the body sets the field: a present optional or message, a non-empty list, a
    non-default scalar."""
    field = message.DESCRIPTOR.fields_by_name[name]
    if field.is_repeated:
        return len(getattr(message, name)) > 0
    if field.has_presence:
        return bool(message.HasField(name))
    return bool(getattr(message, name))


def update_fields(
    resource: Message, mask: FieldMask, writable: Mapping[str, str], given: Mapping[str, Any]
) -> dict[str, Any]:
    """The domain fields to change: ``writable`` maps each writable proto field to its domain
    field, ``given`` holds every domain field as the body gives it. INVALID_ARGUMENT for a mask
    naming a field that is not writable."""
    paths = list(mask.paths)
    if paths:
        bad = [p for p in paths if p not in writable]
        if bad:
            raise InvalidArgument(f"update_mask: {', '.join(bad)} not writable")
    else:
        paths = [p for p in writable if is_set(resource, p)]
    return {writable[p]: given[writable[p]] for p in paths}
