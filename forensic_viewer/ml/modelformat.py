"""The model file format, read without torch: one safetensors file whose header holds the card.

A safetensors file is an 8-byte little-endian header size N, N bytes of JSON header, then the
tensor data section. The header's ``__metadata__`` (text to text) carries the model card as JSON
under :data:`CARD_KEY`, so a model is one file and replacing it is one rename: a reader sees the
old model or the new one, never a new card beside old weights (issue 12: a kill between the two
renames of the old two-file format left neither model loadable).

The card's ``weights_sha256`` is then the SHA-256 of the tensor data section (the bytes after
the header; the card cannot hash the header it sits in): ``tail -c +$((9 + N)) NAME.safetensors
| sha256sum``. The old format, ``NAME.safetensors`` with a ``NAME.json`` card beside it whose
``weights_sha256`` hashes the whole weights file, is still read (never written), so models users
trained before keep working.

Everything here is checked before use: sizes and offsets are whole numbers inside the file,
JSON is nested at most :data:`MAX_DEPTH` levels, and every failure is a :class:`ModelFileError`
naming the file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..core.errors import ForensicError
from .modelpaths import card_path_for

CARD_KEY = "forensic_viewer.model_card"
"""The ``__metadata__`` key that holds the card JSON in a single-file model."""
MAX_HEADER_BYTES = 100_000_000  # the safetensors reference implementation's own limit
MAX_DEPTH = 32
"""JSON nesting allowed in a header or card (a real card is 5 levels deep)."""
DTYPE_BYTES = {
    "F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1,
    "BOOL": 1,
}  # fmt: skip


class ModelFileError(ForensicError):
    """A model file is missing, damaged, of the wrong kind, or does not fit the network."""

    def __init__(self, path: str | Path, reason: str) -> None:
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


@dataclass(frozen=True)
class Header:
    size: int
    """N, the JSON header's length in bytes."""
    tensors: dict[str, dict]
    metadata: dict[str, str]
    data_length: int
    """Bytes of tensor data the header describes."""

    @property
    def data_start(self) -> int:
        return 8 + self.size


def looks_like_pickle(head: bytes) -> bool:
    """PyTorch zip archives and raw pickles (protocols 2-5)."""
    return head.startswith(b"PK\x03\x04") or (
        len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5
    )


def refuse_pickle(path: Path) -> ModelFileError:
    return ModelFileError(
        path,
        "this is a PyTorch pickle file; Forensic Viewer only loads .safetensors model files, "
        "because loading a pickle can run arbitrary code",
    )


def too_deep(value: Any, limit: int = MAX_DEPTH) -> bool:
    """True when lists/dicts nest deeper than ``limit`` (checked without recursion)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth > limit:
                return True
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return False


def parse_json(path: Path, text: str | bytes, what: str) -> Any:
    """``json.loads`` whose every failure is a ModelFileError naming ``path`` and ``what``."""
    try:
        value = json.loads(text)
    except RecursionError:
        raise ModelFileError(path, f"{what} is nested too deeply") from None
    except (UnicodeDecodeError, ValueError) as error:
        raise ModelFileError(path, f"{what} is not valid JSON ({error})") from None
    if too_deep(value):
        raise ModelFileError(path, f"{what} is nested too deeply (over {MAX_DEPTH} levels)")
    return value


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def parse_header(path: Path, head: bytes, file_size: int) -> Header:
    """The header of a file of ``file_size`` bytes starting with ``head`` (at least 8 + N)."""
    if len(head) < 9 or file_size < 9:
        if looks_like_pickle(head[:4]):
            raise refuse_pickle(path)
        raise ModelFileError(path, f"the file is truncated or empty ({file_size} bytes)")
    size = int.from_bytes(head[:8], "little")
    if size > MAX_HEADER_BYTES or head[8:9] != b"{":
        if looks_like_pickle(head[:4]):
            raise refuse_pickle(path)
        raise ModelFileError(path, "not a safetensors weights file")
    if 8 + size > file_size or len(head) < 8 + size:
        raise ModelFileError(
            path, f"the file is truncated ({file_size:,} bytes, shorter than its own header)"
        )
    header = parse_json(path, bytes(head[8 : 8 + size]), "the safetensors header")
    if not isinstance(header, dict):
        raise ModelFileError(path, "not a safetensors weights file (unreadable header)")
    metadata = header.get("__metadata__", {})
    if not isinstance(metadata, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()
    ):
        raise ModelFileError(path, "the safetensors header's __metadata__ is not text to text")
    tensors = {k: v for k, v in header.items() if k != "__metadata__"}
    end = 0
    for name, entry in tensors.items():
        problem = _entry_problem(entry)
        if problem:
            raise ModelFileError(path, f"tensor {name[:80]!r} in the header: {problem}")
        end = max(end, entry["data_offsets"][1])
    expected = 8 + size + end
    if file_size < expected:
        raise ModelFileError(
            path, f"the file is truncated ({file_size:,} bytes of the expected {expected:,})"
        )
    return Header(size=size, tensors=tensors, metadata=metadata, data_length=end)


def _entry_problem(entry: Any) -> str | None:
    if not isinstance(entry, dict):
        return "not an object"
    offsets, shape, dtype = entry.get("data_offsets"), entry.get("shape"), entry.get("dtype")
    if dtype not in DTYPE_BYTES:
        return f"unknown dtype {str(dtype)[:20]!r}"
    if not (isinstance(shape, list) and len(shape) <= 8 and all(map(_whole, shape))):
        return "shape is not a list of whole numbers"
    if not (isinstance(offsets, list) and len(offsets) == 2 and all(map(_whole, offsets))):
        return "data_offsets are not two whole numbers"
    if offsets[1] > 1 << 40:  # a terabyte: far beyond any model, and beyond any file here
        return "data_offsets are out of range"
    count = 1
    for dim in shape:
        count *= dim
    if offsets[1] - offsets[0] != count * DTYPE_BYTES[dtype]:
        return "data_offsets do not match its shape and dtype"
    return None


def read_header(path: Path) -> Header:
    """The header of a model file, reading only the header's bytes."""
    try:
        with open(path, "rb") as handle:
            file_size = handle.seek(0, 2)
            handle.seek(0)
            head = handle.read(9)
            if len(head) == 9 and head[8:9] == b"{":
                size = int.from_bytes(head[:8], "little")
                if size <= MAX_HEADER_BYTES:
                    head += handle.read(size - 1)
    except OSError as error:
        raise ModelFileError(path, f"cannot read the file ({error.strerror})") from None
    return parse_header(path, head, file_size)


def embedded_card(path: Path, header: Header) -> dict | None:
    """The card stored in the header, or None for a model in the old two-file format."""
    text = header.metadata.get(CARD_KEY)
    if text is None:
        return None
    card = parse_json(path, text, "the model card in the file's header")
    if not isinstance(card, dict):
        raise ModelFileError(path, "the model card in the file's header is not a JSON object")
    return card


def read_legacy_card(weights: Path) -> tuple[dict, Path]:
    """The ``NAME.json`` card of an old two-file model."""
    card_path = card_path_for(weights)
    if not card_path.is_file():
        raise ModelFileError(
            weights,
            f"the file has no model card (none in its header, and no {card_path.name} beside it)",
        )
    try:
        text = card_path.read_bytes()
    except OSError as error:
        raise ModelFileError(card_path, f"cannot read the model card ({error.strerror})") from None
    card = parse_json(card_path, text, "the model card")
    if not isinstance(card, dict):
        raise ModelFileError(card_path, "the model card is invalid: not a JSON object")
    return card, card_path


def read_card(weights: Path, header: Header | None = None) -> tuple[dict, Path]:
    """The card of a model file and where it was read from (the file itself, or NAME.json)."""
    header = read_header(weights) if header is None else header
    card = embedded_card(weights, header)
    return (card, weights) if card is not None else read_legacy_card(weights)


def has_card(weights: Path) -> bool:
    """Whether ``weights`` looks like a usable model (for menus; loading checks everything)."""
    try:
        header = read_header(weights)
    except ModelFileError:
        return card_path_for(weights).is_file()  # an old pair: loading will say what is wrong
    return CARD_KEY in header.metadata or card_path_for(weights).is_file()


def with_metadata(path: Path, data: bytes, extra: dict[str, str]) -> bytes:
    """``data`` (a safetensors file) with ``extra`` added to its header's metadata.

    The tensor data section is copied byte for byte; the new header is padded with spaces to a
    multiple of 8 bytes, so the tensors stay aligned as safetensors writes them.
    """
    header = parse_header(path, data, len(data))
    raw = json.loads(data[8 : header.data_start])
    raw["__metadata__"] = {**header.metadata, **extra}
    text = json.dumps(raw, separators=(",", ":"), allow_nan=False).encode("utf-8")
    text += b" " * (-len(text) % 8)
    return len(text).to_bytes(8, "little") + text + data[header.data_start :]


def replace_card(path: Path, card: dict) -> None:
    """Write ``card`` into a single-file model's header in place of its card, in one rename.

    The tensor data is copied byte for byte (checked), so ``weights_sha256`` stays valid. For
    tools that amend a card after training (a domain, a refitted calibration)."""
    from ..core.atomic import atomic_write_bytes
    from ..core.jsonout import dumps

    path = Path(path)
    old = path.read_bytes()
    header = parse_header(path, old, len(old))
    new = with_metadata(path, old, {CARD_KEY: dumps(card, ensure_ascii=False)})
    if new[parse_header(path, new, len(new)).data_start :] != old[header.data_start :]:
        raise ModelFileError(path, "the tensor data would change; nothing written")
    atomic_write_bytes(path, new)
