#!/usr/bin/env python3
"""Read a PNG with the standard library only and report what a report check needs.

    png-stats.py FILE [#rrggbb ...]

Prints one JSON object: width, height, distinct colours (sampled), the share of pixels that
are not near-white, and for each colour given the number of pixels within a small distance of
it. Used by scripts/check-report.sh to assert a rendered report is not blank and shows its
charts. Handles 8-bit RGB/RGBA/grey PNGs, not interlaced (what Chromium and cutoff write).
"""
import json
import struct
import sys
import zlib


def read_png(path):
    data = open(path, "rb").read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise SystemExit(f"{path}: not a PNG")
    pos, idat, w = 8, [], None
    while pos < len(data):
        (n,) = struct.unpack(">I", data[pos:pos + 4])
        kind = data[pos + 4:pos + 8]
        body = data[pos + 8:pos + 8 + n]
        pos += 12 + n
        if kind == b"IHDR":
            w, h, depth, ctype, _, _, interlace = struct.unpack(">IIBBBBB", body)
            if depth != 8 or interlace != 0 or ctype not in (0, 2, 6):
                raise SystemExit(f"{path}: unsupported PNG (depth {depth}, type {ctype}, interlace {interlace})")
            bpp = {0: 1, 2: 3, 6: 4}[ctype]
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"IEND":
            break
    raw = zlib.decompress(b"".join(idat))
    stride = w * bpp
    rows, prev = [], bytearray(stride)
    for y in range(h):
        f = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if f == 1:
                line[i] = (line[i] + a) & 255
            elif f == 2:
                line[i] = (line[i] + b) & 255
            elif f == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pr = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                line[i] = (line[i] + pr) & 255
        rows.append(bytes(line))
        prev = line
    return w, h, bpp, rows


def main():
    path, wanted = sys.argv[1], [c.lstrip("#") for c in sys.argv[2:]]
    w, h, bpp, rows = read_png(path)
    targets = [tuple(int(c[i:i + 2], 16) for i in (0, 2, 4)) for c in wanted]
    hits = [0] * len(targets)
    colours, non_white, total = set(), 0, 0
    for y in range(0, h, 2):
        row = rows[y]
        for x in range(0, w, 2):
            px = row[x * bpp:x * bpp + 3]
            rgb = (px[0], px[0], px[0]) if bpp == 1 else (px[0], px[1], px[2])
            total += 1
            colours.add(rgb)
            if min(rgb) < 235:
                non_white += 1
            for k, t in enumerate(targets):
                if sum(abs(rgb[i] - t[i]) for i in range(3)) <= 24:
                    hits[k] += 1
    print(json.dumps({
        "width": w,
        "height": h,
        "distinct_colours": len(colours),
        "non_white_fraction": round(non_white / max(total, 1), 4),
        "colour_pixels": {"#" + c: n for c, n in zip(wanted, hits)},
    }))


if __name__ == "__main__":
    main()
