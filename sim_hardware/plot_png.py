"""A line plot written as a PNG with the standard library only (zlib), so the
fleet tool needs no plotting package. CPython only.

plot(path, series, title, x_label, y_label, x_max=None, markers=()): series is
a list of (label, (r, g, b), ys) with ys sampled at x = 0, 1, 2, ...; axes,
ticks, labels, a legend and the title are drawn with a 3x5 pixel font (upper
case); markers is a list of (x, label): a dotted vertical line at x with its
label at the top (the demo's session steps).
"""

import math
import struct
import zlib

WIDTH, HEIGHT = 960, 540
LEFT, RIGHT, TOP, BOTTOM = 90, 30, 50, 60
SCALE = 2  # font pixels per glyph pixel
BLACK, GREY, WHITE = (0, 0, 0), (215, 215, 215), (255, 255, 255)
GREY_DARK = (120, 120, 120)

_GLYPHS = {
    "0": "111101101101111", "1": "010110010010111", "2": "111001111100111",
    "3": "111001111001111", "4": "101101111001001", "5": "111100111001111",
    "6": "111100111101111", "7": "111001001001001", "8": "111101111101111",
    "9": "111101111001111", "A": "010101111101101", "B": "110101110101110",
    "C": "011100100100011", "D": "110101101101110", "E": "111100110100111",
    "F": "111100110100100", "G": "011100101101011", "H": "101101111101101",
    "I": "111010010010111", "J": "001001001101010", "K": "101101110101101",
    "L": "100100100100111", "M": "101111111101101", "N": "110101101101101",
    "O": "010101101101010", "P": "110101110100100", "Q": "010101101110011",
    "R": "110101110101101", "S": "011100010001110", "T": "111010010010010",
    "U": "101101101101111", "V": "101101101101010", "W": "101101111111101",
    "X": "101101010101101", "Y": "101101010010010", "Z": "111001010100111",
    ".": "000000000000010", "-": "000000111000000", "/": "001001010100100",
    "(": "010100100100010", ")": "010001001001010", "%": "101001010100101",
    "=": "000111000111000", ",": "000000000010100", ":": "000010000010000",
    " ": "000000000000000", "+": "000010111010000",
}


class Canvas:
    def __init__(self, width, height):
        self.width = width
        self.height = height
        self.px = bytearray(WHITE * (width * height))

    def dot(self, x, y, rgb):
        if 0 <= x < self.width and 0 <= y < self.height:
            i = (y * self.width + x) * 3
            self.px[i:i + 3] = bytes(rgb)

    def line(self, x0, y0, x1, y1, rgb, thick=1):
        # Bresenham, all octants
        dx, dy = abs(x1 - x0), -abs(y1 - y0)
        sx, sy = (1 if x0 < x1 else -1), (1 if y0 < y1 else -1)
        err = dx + dy
        while True:
            for t in range(thick):
                self.dot(x0, y0 + t, rgb)
            if x0 == x1 and y0 == y1:
                return
            e2 = 2 * err
            if e2 >= dy:
                err += dy
                x0 += sx
            if e2 <= dx:
                err += dx
                y0 += sy

    def text(self, x, y, s, rgb=BLACK):
        for ch in s.upper():
            bits = _GLYPHS.get(ch, _GLYPHS[" "])
            for i, b in enumerate(bits):
                if b == "1":
                    for u in range(SCALE):
                        for v in range(SCALE):
                            self.dot(x + (i % 3) * SCALE + u, y + (i // 3) * SCALE + v, rgb)
            x += 4 * SCALE

    def png(self):
        stride = self.width * 3
        raw = b"".join(b"\x00" + bytes(self.px[r * stride:(r + 1) * stride])
                       for r in range(self.height))

        def chunk(kind, data):
            return (struct.pack(">I", len(data)) + kind + data
                    + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

        ihdr = struct.pack(">IIBBBBB", self.width, self.height, 8, 2, 0, 0, 0)  # 8-bit RGB
        return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
                + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


def text_width(s):
    return len(s) * 4 * SCALE


def nice_step(span, ticks=5):
    """1, 2 or 5 x 10^k, giving about `ticks` intervals over span."""
    raw = span / ticks if span > 0 else 1.0
    mag = 10.0 ** math.floor(math.log10(raw))
    for m in (1, 2, 5):
        if m * mag >= raw:
            return m * mag
    return 10 * mag


def _fmt(v):
    return ("%d" % v) if v == int(v) else ("%.1f" % v)


def _markers(c, markers, px, top, right):
    """Dotted vertical lines from top down, labels in rows from top so that neighbours do
    not overlap; a label that would pass the right edge goes left of its line."""
    row_end = []  # per label row: the x where its last label ends
    bottom = px(0, 0)[1]
    for x, label in markers:
        xx, _ = px(x, 0)
        for yy in range(top, bottom, 4):
            c.line(xx, yy, xx, yy + 1, GREY_DARK)
        lx = xx + 3 if xx + 3 + text_width(label) <= right else xx - 3 - text_width(label)
        row = next((i for i, end in enumerate(row_end) if end < lx), len(row_end))
        if row == len(row_end):
            row_end.append(0)
        row_end[row] = lx + text_width(label) + 6
        c.text(lx, top + 4 + row * 14, label, GREY_DARK)


def plot(path, series, title, x_label, y_label, x_max=None, markers=()):
    c = Canvas(WIDTH, HEIGHT)
    n = max(len(ys) for _, _, ys in series)
    x_max = x_max or max(n - 1, 1)
    y_max = max(max(ys[:x_max + 1]) for _, _, ys in series) or 1.0
    y_step = nice_step(y_max)
    y_top = y_step * (int(y_max / y_step) + 1)
    x_step = nice_step(x_max, 8)
    w, h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def px(x, y):
        return LEFT + round(x * w / x_max), TOP + h - round(y * h / y_top)

    v = 0.0
    while v <= y_top + 1e-9:
        _, yy = px(0, v)
        c.line(LEFT, yy, LEFT + w, yy, GREY)
        c.text(LEFT - 8 - text_width(_fmt(v)), yy - 5, _fmt(v))
        v += y_step
    v = 0.0
    while v <= x_max + 1e-9:
        xx, _ = px(v, 0)
        c.line(xx, TOP + h, xx, TOP + h + 5, BLACK)
        c.text(xx - text_width(_fmt(v)) // 2, TOP + h + 10, _fmt(v))
        v += x_step
    _markers(c, markers, px, TOP + 14 + 18 * len(series), LEFT + w)  # below the legend
    c.line(LEFT, TOP, LEFT, TOP + h, BLACK)
    c.line(LEFT, TOP + h, LEFT + w, TOP + h, BLACK)
    for _label, rgb, ys in series:
        last = None
        for x in range(min(len(ys), x_max + 1)):
            p = px(x, ys[x])
            if last is not None:
                c.line(last[0], last[1], p[0], p[1], rgb, thick=2)
            last = p
    c.text(LEFT, 15, title)
    c.text(LEFT + (w - text_width(x_label)) // 2, HEIGHT - 22, x_label)
    c.text(8, TOP - 22, y_label)
    ly = TOP + 10
    for label, rgb, _ys in series:
        lx = LEFT + w - text_width(label) - 40
        c.line(lx, ly + 4, lx + 24, ly + 4, rgb, thick=3)
        c.text(lx + 32, ly, label)
        ly += 18
    with open(path, "wb") as f:
        f.write(c.png())
