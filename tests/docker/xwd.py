"""XWD screen dumps to PNG, with the standard library only.

``Xvfb -fbdir DIR`` keeps its screen in ``DIR/Xvfb_screen0`` as an XWD file
(X Window Dump): a header, a colour map, then the pixels.  Reading that file
from the host is a screenshot taken inside the container with nothing added
to the image; this module turns it into a PNG without needing ImageMagick.

Only what Xvfb writes for a TrueColor screen is handled: ZPixmap, 32 bits a
pixel, 8-bit channels (``-screen 0 WxHx24``).
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

HEADER_FIELDS = 25  # CARD32s in XWDFileHeader
Z_PIXMAP = 2
LSB_FIRST = 0


@dataclass(frozen=True)
class Image:
    """RGB pixels, 3 bytes each, row after row."""

    width: int
    height: int
    rgb: bytes

    def crop(self, x: int, y: int, width: int, height: int) -> Image:
        """The part at (*x*, *y*) of *width* by *height*, clipped to the image."""
        x, y = max(0, x), max(0, y)
        width, height = min(width, self.width - x), min(height, self.height - y)
        rows = (
            self.rgb[(row * self.width + x) * 3 : (row * self.width + x + width) * 3]
            for row in range(y, y + height)
        )
        return Image(width, height, b"".join(rows))

    def colours(self) -> int:
        """How many different colours there are (a blank screen has one)."""
        return len({self.rgb[i : i + 3] for i in range(0, len(self.rgb), 3)})

    def png(self) -> bytes:
        """The image as a PNG file: 8-bit RGB, each row unfiltered."""

        def chunk(kind: bytes, data: bytes) -> bytes:
            body = kind + data
            return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

        stride = self.width * 3
        raw = b"".join(
            b"\0" + self.rgb[row * stride : (row + 1) * stride] for row in range(self.height)
        )
        header = struct.pack(">IIBBBBB", self.width, self.height, 8, 2, 0, 0, 0)
        return (
            b"\x89PNG\r\n\x1a\n"
            + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(raw, 6))
            + chunk(b"IEND", b"")
        )


def read_xwd(data: bytes) -> Image:
    """Decode an XWD dump of a 24-bit TrueColor screen."""
    # The header is written in the writer's byte order; its first field, the
    # header's own size, is small, which tells big-endian from little-endian.
    order = ">" if struct.unpack(">I", data[:4])[0] < 0x10000 else "<"
    fields = struct.unpack(f"{order}{HEADER_FIELDS}I", data[: HEADER_FIELDS * 4])
    (header_size, _version, pixmap_format, _depth, width, height, _xoffset, byte_order,
     _unit, _bit_order, _pad, bits_per_pixel, bytes_per_line, _visual_class,
     red_mask, green_mask, blue_mask, _bits_per_rgb, _entries, ncolors) = fields[:20]  # fmt: skip
    if pixmap_format != Z_PIXMAP or bits_per_pixel != 32:
        raise ValueError(f"unsupported XWD: format {pixmap_format}, {bits_per_pixel} bits/pixel")
    start = header_size + ncolors * 12  # an XWDColor is 12 bytes
    pixels = data[start : start + bytes_per_line * height]
    if len(pixels) < bytes_per_line * height:
        raise ValueError("XWD file is shorter than its header says")
    if bytes_per_line != width * 4:  # drop the padding at the end of each row
        pixels = b"".join(
            pixels[row * bytes_per_line : row * bytes_per_line + width * 4] for row in range(height)
        )
    # Each channel is one byte of the 4-byte pixel; which one follows from its
    # mask and the pixels' byte order.  Slicing copies a channel in one step.
    rgb = bytearray(width * height * 3)
    for channel, mask in enumerate((red_mask, green_mask, blue_mask)):
        shift = mask.bit_length() - 8
        if shift % 8 or mask != 0xFF << shift:
            raise ValueError(f"unsupported XWD channel mask {mask:#x}")
        index = shift // 8 if byte_order == LSB_FIRST else 3 - shift // 8
        rgb[channel::3] = pixels[index::4]
    return Image(width, height, bytes(rgb))
