"""Read TensorFlow checkpoint V2 files (`PREFIX.index` + `PREFIX.data-NNNNN-of-NNNNN`) without TensorFlow.

Why: the `musicnn` wheel ships its trained weights only as TF1 checkpoints, and TensorFlow is a heavy,
version-fragile dependency. The format is small enough to read directly:

* `.index` is a LevelDB-style SSTable (uncompressed blocks, each followed by a 1-byte compression type and a
  masked CRC32C; a 48-byte footer with the metaindex and index block handles and a magic number). Its keys are
  variable names; the empty key holds a `BundleHeaderProto`, every other value is a `BundleEntryProto`
  (dtype, shape, shard_id, offset, size, crc32c).
* `.data-*` files are raw little-endian tensor bytes at `offset`, `size` bytes long.

Only the protobuf fields needed here are decoded, with a tiny wire-format parser.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from m2l2.errors import M2L2Error

_TABLE_MAGIC = 0xDB4775248B80FB57
_FOOTER_LEN = 48
_BLOCK_TRAILER_LEN = 5
_RESTORE = "the checkpoint is damaged or incomplete; restore its .index and .data files together"

# tensorflow/core/framework/types.proto (numeric types only; strings/resources are not stored as raw arrays)
_DTYPES: dict[int, np.dtype] = {
    1: np.dtype("<f4"),  # DT_FLOAT
    2: np.dtype("<f8"),  # DT_DOUBLE
    3: np.dtype("<i4"),  # DT_INT32
    4: np.dtype("u1"),  # DT_UINT8
    5: np.dtype("<i2"),  # DT_INT16
    6: np.dtype("i1"),  # DT_INT8
    9: np.dtype("<i8"),  # DT_INT64
    10: np.dtype("?"),  # DT_BOOL
    17: np.dtype("<u2"),  # DT_UINT16
    19: np.dtype("<f2"),  # DT_HALF
    22: np.dtype("<u4"),  # DT_UINT32
    23: np.dtype("<u8"),  # DT_UINT64
}


# ---------------------------------------------------------------- CRC32C (Castagnoli), as TF/LevelDB use it
def _crc32c_table() -> list[int]:
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


_CRC_TABLE = _crc32c_table()
_CRC_MEMO: dict[bytes, int] = {}  # blake2b of bytes → their CRC32C, for this process


def crc32c(data: bytes) -> int:
    """Plain CRC32C; uses the `google_crc32c`/`crc32c` C packages when installed, else pure Python."""
    try:
        import google_crc32c  # type: ignore[import-not-found]

        return int(google_crc32c.value(bytes(data)))
    except ImportError:
        pass
    try:
        import crc32c as _c  # type: ignore[import-not-found]

        return int(_c.crc32c(bytes(data)))
    except ImportError:
        pass
    digest = hashlib.blake2b(data, digest_size=16).digest()  # C speed; the loop below is ~1 s per MB
    if digest not in _CRC_MEMO:  # the same weights are verified again by every experiment of a run
        crc = 0xFFFFFFFF
        table = _CRC_TABLE
        for b in bytes(data):
            crc = table[(crc ^ b) & 0xFF] ^ (crc >> 8)
        _CRC_MEMO[digest] = crc ^ 0xFFFFFFFF
    return _CRC_MEMO[digest]


def unmask_crc(masked: int) -> int:
    """LevelDB/TF store `rot17(crc) + 0xa282ead8` so that CRCs of CRC-bearing data stay informative."""
    rot = (masked - 0xA282EAD8) & 0xFFFFFFFF
    return ((rot >> 17) | (rot << 15)) & 0xFFFFFFFF


# ---------------------------------------------------------------- protobuf wire format (minimal)
def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(buf):
            raise ValueError("truncated varint")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7


def _fields(buf: bytes) -> list[tuple[int, int | bytes]]:
    """(field number, value) pairs; varints/fixed ints as int, length-delimited as bytes."""
    out: list[tuple[int, int | bytes]] = []
    pos = 0
    while pos < len(buf):
        key, pos = _varint(buf, pos)
        field, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(buf, pos)
        elif wire == 1:
            value = struct.unpack_from("<Q", buf, pos)[0]
            pos += 8
        elif wire == 2:
            n, pos = _varint(buf, pos)
            value = bytes(buf[pos : pos + n])
            pos += n
        elif wire == 5:
            value = struct.unpack_from("<I", buf, pos)[0]
            pos += 4
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
        out.append((field, value))
    return out


@dataclass(frozen=True)
class TensorEntry:
    """One `BundleEntryProto`: where a variable's bytes are and what they mean."""

    name: str
    dtype: int
    shape: tuple[int, ...]
    shard_id: int
    offset: int
    size: int
    crc32c: int  # masked, as stored
    sliced: bool


def _parse_entry(name: str, value: bytes) -> TensorEntry:
    dtype = shard_id = offset = size = crc = 0
    shape: list[int] = []
    sliced = False
    for field, v in _fields(value):
        if field == 1:
            dtype = int(v)  # type: ignore[arg-type]
        elif field == 2:
            for f2, dim in _fields(v):  # type: ignore[arg-type]
                if f2 == 2:  # TensorShapeProto.dim
                    size_ = next((int(d) for f3, d in _fields(dim) if f3 == 1), 0)  # type: ignore[arg-type]
                    shape.append(size_)
        elif field == 3:
            shard_id = int(v)  # type: ignore[arg-type]
        elif field == 4:
            offset = int(v)  # type: ignore[arg-type]
        elif field == 5:
            size = int(v)  # type: ignore[arg-type]
        elif field == 6:
            crc = int(v)  # type: ignore[arg-type]
        elif field == 7:
            sliced = True
    return TensorEntry(name, dtype, tuple(shape), shard_id, offset, size, crc, sliced)


# ---------------------------------------------------------------- SSTable
def _read_block(data: bytes, offset: int, size: int, verify: bool) -> bytes:
    block = data[offset : offset + size]
    trailer = data[offset + size : offset + size + _BLOCK_TRAILER_LEN]
    if len(block) != size or len(trailer) != _BLOCK_TRAILER_LEN:
        raise ValueError("block handle points past the end of the index file")
    if trailer[0] != 0:
        raise ValueError(f"compressed index blocks (type {trailer[0]}) are not supported")
    if verify:
        stored = unmask_crc(struct.unpack_from("<I", trailer, 1)[0])
        if crc32c(block + trailer[:1]) != stored:
            raise ValueError(f"CRC mismatch in index block at offset {offset}")
    return block


def _block_entries(block: bytes) -> list[tuple[bytes, bytes]]:
    num_restarts = struct.unpack_from("<I", block, len(block) - 4)[0]
    end = len(block) - 4 - 4 * num_restarts
    entries: list[tuple[bytes, bytes]] = []
    pos = 0
    key = b""
    while pos < end:
        shared, pos = _varint(block, pos)
        non_shared, pos = _varint(block, pos)
        value_len, pos = _varint(block, pos)
        key = key[:shared] + block[pos : pos + non_shared]
        pos += non_shared
        entries.append((key, block[pos : pos + value_len]))
        pos += value_len
    return entries


def _block_handle(value: bytes) -> tuple[int, int]:
    offset, pos = _varint(value, 0)
    size, _ = _varint(value, pos)
    return offset, size


def read_index(index_path: str | Path, verify: bool = True) -> tuple[dict[str, TensorEntry], int]:
    """All tensor entries of a checkpoint index, and its shard count."""
    data = Path(index_path).read_bytes()
    if len(data) < _FOOTER_LEN:
        raise ValueError(f"{index_path} is too short to be a TF checkpoint index")
    footer = data[-_FOOTER_LEN:]
    if struct.unpack_from("<Q", footer, 40)[0] != _TABLE_MAGIC:
        raise ValueError(f"{index_path} is not a TF checkpoint V2 index (bad table magic)")
    _meta_off, pos = _varint(footer, 0)
    _meta_size, pos = _varint(footer, pos)
    idx_off, pos = _varint(footer, pos)
    idx_size, _ = _varint(footer, pos)
    entries: dict[str, TensorEntry] = {}
    num_shards = 1
    for _last_key, handle in _block_entries(_read_block(data, idx_off, idx_size, verify)):
        off, size = _block_handle(handle)
        for key, value in _block_entries(_read_block(data, off, size, verify)):
            if key == b"":  # BundleHeaderProto
                for field, v in _fields(value):
                    if field == 1:
                        num_shards = int(v)  # type: ignore[arg-type]
                    elif field == 2 and int(v) != 0:  # type: ignore[arg-type]
                        raise ValueError("big-endian checkpoints are not supported")
                continue
            name = key.decode("utf-8")
            entries[name] = _parse_entry(name, value)
    return entries, num_shards


class TFCheckpoint:
    """Lazy reader: `ckpt.names()`, `ckpt.read(name) -> np.ndarray`, `ckpt.shape(name)`.

    `prefix` is what TF's Saver was given: the files are `prefix + ".index"` and
    `prefix + ".data-00000-of-00001"` (for the musicnn wheel the prefix is a folder path ending in "/").
    """

    def __init__(self, prefix: str | Path, verify: bool = True):
        self.prefix = str(prefix)
        self.verify = verify
        index = Path(self.prefix + ".index")
        if not index.is_file():
            raise M2L2Error(
                f"TF checkpoint index not found ({index}): pass the prefix of an existing checkpoint"
            )
        try:
            self.entries, self.num_shards = read_index(index, verify=verify)
        except ValueError as e:
            raise M2L2Error(
                f"cannot read the TF checkpoint index, {e} ({index}): use a complete, little-endian TF "
                "checkpoint V2"
            ) from e
        self._shards: dict[int, bytes] = {}

    def names(self) -> list[str]:
        return sorted(self.entries)

    def __contains__(self, name: str) -> bool:
        return name in self.entries

    def shape(self, name: str) -> tuple[int, ...]:
        return self._entry(name).shape

    def data_path(self, shard: int) -> Path:
        return Path(f"{self.prefix}.data-{shard:05d}-of-{self.num_shards:05d}")

    def _entry(self, name: str) -> TensorEntry:
        if name not in self.entries:
            close = [n for n in self.names() if name.split("/")[-1] in n][:5]
            hint = f"; similar: {', '.join(close)}" if close else ""
            raise M2L2Error(
                f"variable {name!r} not in TF checkpoint ({self.prefix}): use a variable it holds{hint}"
            )
        return self.entries[name]

    def _shard(self, shard: int) -> bytes:
        if shard not in self._shards:
            path = self.data_path(shard)
            if not path.is_file():
                raise M2L2Error(f"TF checkpoint data file not found ({path}): {_RESTORE}")
            self._shards[shard] = path.read_bytes()
        return self._shards[shard]

    def read(self, name: str) -> np.ndarray:
        """The variable's value as a NumPy array with its stored shape and dtype."""
        e = self._entry(name)
        if e.sliced:
            raise M2L2Error(
                f"variable {name!r} is stored as slices (partitioned), which is not supported "
                f"({self.prefix}): save the checkpoint without partitioned variables"
            )
        if e.dtype not in _DTYPES:
            raise M2L2Error(
                f"variable {name!r} has TF dtype enum {e.dtype}, which this reader does not decode "
                f"({self.prefix}): save it as one of the enums {sorted(_DTYPES)}"
            )
        raw = self._shard(e.shard_id)[e.offset : e.offset + e.size]
        if len(raw) != e.size:
            raise M2L2Error(
                f"variable {name!r} points past the end of the data file ({self.data_path(e.shard_id)}): "
                f"{_RESTORE}"
            )
        if self.verify and crc32c(raw) != unmask_crc(e.crc32c):
            raise M2L2Error(
                f"CRC32C mismatch for variable {name!r}, the checkpoint is corrupt ({self.prefix}): "
                f"{_RESTORE}"
            )
        dtype = _DTYPES[e.dtype]
        n = int(np.prod(e.shape)) if e.shape else 1
        if n * dtype.itemsize != e.size:
            raise M2L2Error(
                f"variable {name!r}: {e.size} bytes do not fit shape {e.shape} of {dtype} ({self.prefix}): "
                f"{_RESTORE}"
            )
        return np.frombuffer(raw, dtype=dtype).reshape(e.shape).copy()
