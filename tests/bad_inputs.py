"""Build a few hundred bad and odd inputs from the shipped samples, as CLI calls with expectations.

``build(root)`` writes every input under ``root`` and returns ``Case`` objects. Each case is one
``affectlens`` command line plus what must hold: the exit code class, the files that must be named
in a one-line ``error:``, and (for analyze) the good input beside the bad one that must still be
written to ``-o``. ``python tests/bad_inputs.py DIR`` builds the set and runs it in subprocesses
(the withheld-style check); the pytest module runs most cases in-process.
"""

from __future__ import annotations

import io
import json
import os
import random
import shutil
import struct
import wave
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

HERE = Path(__file__).parent
DATA = HERE / "data"
EXAMPLES = HERE.parent / "examples"


#: hand-written sentences (not from any corpus): text, MELD emotion, GoEmotions label id, EmoBank V/A/D
SENTENCES = (
    ("I can't believe how wonderful today was.", "joy", 17, (4.4, 3.6, 3.4)),
    ("The meeting was moved to Thursday.", "neutral", 27, (3.0, 2.8, 3.0)),
    ("She cried all night after the funeral.", "sadness", 25, (1.6, 3.4, 2.4)),
    ("Get out of my house right now!", "anger", 2, (1.8, 4.2, 3.8)),
    ("The report lists twelve new members.", "neutral", 27, (3.0, 2.6, 3.0)),
    ("We finally won the championship!", "joy", 17, (4.6, 4.4, 3.8)),
    ("I'm terrified of what the test will show.", "fear", 14, (1.8, 4.0, 2.2)),
    ("That smell is absolutely revolting.", "disgust", 11, (1.8, 3.4, 3.0)),
    ("Thanks so much for your help.", "joy", 15, (4.0, 3.0, 3.2)),
    ("Nothing happened on the train.", "neutral", 27, (3.0, 2.4, 3.0)),
    ("What? That's amazing!", "surprise", 26, (4.0, 4.2, 3.2)),
    ("I miss her so much.", "sadness", 25, (1.8, 2.8, 2.4)),
)


def text_corpora(folder: Path) -> dict[str, Path]:
    """``SENTENCES`` written in the GoEmotions, EmoBank and MELD file formats under ``folder``
    (the text eval readers' bad-row cases need no corpus)."""
    folder.mkdir(parents=True, exist_ok=True)
    ge = folder / "goemotions_dev.tsv"
    ge.write_text("".join(f"{t}\t{gid}\tc{i}\n" for i, (t, _, gid, _) in enumerate(SENTENCES)))
    eb = folder / "emobank.csv"
    eb.write_text("id,split,V,A,D,text\n" + "".join(
        f"s{split}{i},{split},{v},{a},{d},\"{t}\"\n" for split in ("train", "dev")
        for i, (t, _, _, (v, a, d)) in enumerate(SENTENCES)))
    meld = folder / "meld_dev.csv"
    meld.write_text("Sr No.,Utterance,Speaker,Emotion,Sentiment,Dialogue_ID,Utterance_ID,Season,Episode,"
                    "StartTime,EndTime\n" + "".join(
                        f'{i + 1},"{t}",{("Ann", "Ben")[i % 2]},{emo},neutral,{i // 4},{i % 4},1,1,'
                        f'"00:00:01,000","00:00:02,000"\n' for i, (t, emo, _, _) in enumerate(SENTENCES)))
    return {"goemotions": ge, "emobank": eb, "meld": meld}


@dataclass
class Case:
    """One CLI call. ``expect``: ``ok`` (exit 0), ``error`` (exit 1), ``usage`` (exit 2),
    ``any`` (0 or 1: a mutated file that may still decode). ``bad``: paths that must appear
    in an ``error:`` line when the call fails. ``good``: path that must be in ``-o``."""

    name: str
    argv: list[str]
    expect: str = "error"
    bad: list[str] = field(default_factory=list)
    good: str | None = None
    output: str | None = None
    subprocess: bool = False
    warn: str | None = None  # text a ``warning:`` line must contain


# ------------------------------------------------------------------ raw material
def wav_bytes(samples: np.ndarray, rate: int = 16000, bits: int = 16, channels: int = 1,
              fmt_tag: int | None = None) -> bytes:
    """A RIFF/WAVE file; ``samples`` float in [-1, 1] (float32 when ``fmt_tag == 3``)."""
    if fmt_tag == 3:
        data = samples.astype("<f4").tobytes()
        bits = 32
    else:
        fmt_tag = 1
        data = (np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes()
    return wav_header(len(data), rate=rate, bits=bits, channels=channels, fmt_tag=fmt_tag) + data


def wav_header(data_len: int, rate: int = 16000, bits: int = 16, channels: int = 1, fmt_tag: int = 1,
               block_align: int | None = None, byte_rate: int | None = None) -> bytes:
    block = block_align if block_align is not None else channels * max(bits, 8) // 8
    rate_b = byte_rate if byte_rate is not None else rate * block
    fmt = struct.pack("<HHIIHH", fmt_tag, channels, rate, rate_b & 0xFFFFFFFF, block & 0xFFFF, bits)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", data_len & 0xFFFFFFFF)
    return b"RIFF" + struct.pack("<I", (len(body) + data_len) & 0xFFFFFFFF) + body


def speech_samples() -> np.ndarray:
    """A shipped speech sample decoded to 16 kHz mono."""
    from affectlens.media import decode

    return np.concatenate(list(decode.iter_audio(DATA / "voice" / "03a01Wa.flac")))


def png_header_bomb(width: int, height: int) -> bytes:
    """A tiny PNG whose IHDR claims ``width x height`` (the pixels are never there)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def png_real_bomb(side: int) -> bytes:
    """A PNG that really decodes to ``side x side`` grey pixels (compresses ~1000:1)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    comp = zlib.compressobj(9)
    row = b"\0" + b"\x80" * side
    raw = b"".join(comp.compress(row) for _ in range(side)) + comp.flush()
    ihdr = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", raw) + chunk(b"IEND", b"")


def jpeg_claiming(src: bytes, width: int, height: int) -> bytes:
    """A real JPEG whose SOF marker is patched to claim ``width x height``."""
    b = bytearray(src)
    i = 2
    while i < len(b) - 9:
        if b[i] != 0xFF:
            i += 1
            continue
        marker = b[i + 1]
        if marker in (0xC0, 0xC1, 0xC2):
            struct.pack_into(">HH", b, i + 5, height, width)
            return bytes(b)
        i += 2 + struct.unpack(">H", b[i + 2:i + 4])[0]
    raise ValueError("no SOF marker")


def short_clip(dst: Path, seconds: float = 3.0) -> Path:
    """The example video's first ``seconds`` remuxed (no re-encode) into a small mp4."""
    import av

    with av.open(str(EXAMPLES / "obama_oilspill_2010.mp4")) as src, av.open(str(dst), "w") as out:
        mapping = {}
        for s in src.streams:
            if s.type in ("video", "audio"):
                mapping[s.index] = out.add_stream_from_template(s)
        for packet in src.demux():
            if packet.stream.index not in mapping or packet.dts is None:
                continue
            if packet.pts is not None and packet.pts * packet.time_base > seconds:
                continue
            packet.stream = mapping[packet.stream.index]
            out.mux(packet)
    return dst


# ------------------------------------------------------------------ the cases
def build(root: Path, seed: int = 16) -> list[Case]:
    """Write every input under ``root``; return the cases (a few hundred)."""
    rng = random.Random(seed)
    root.mkdir(parents=True, exist_ok=True)
    good = root / "good.txt"  # one line of the example dialogue: cheap to analyze beside every bad input
    good.write_text((EXAMPLES / "dialogue.txt").read_text().splitlines()[2] + "\n")
    cases: list[Case] = []
    n_out = [0]

    def out_path(ext: str = "json") -> str:
        n_out[0] += 1
        return str(root / "out" / f"o{n_out[0]}.{ext}")

    def analyze(name: str, bad: Path | str, expect: str = "error", extra: tuple = (), sub: bool = False,
                with_good: bool = True, warn: str | None = None, quiet: bool = True) -> None:
        o = out_path()
        inputs = [str(bad), str(good)] if with_good else [str(bad)]
        if with_good and len(cases) % 2:  # the good one both before and after the bad one
            inputs.reverse()
        cases.append(Case(name, ["analyze", *inputs, "--no-asr", *(["-q"] if quiet else []), "--fps", "1", *extra,
                                 "-o", o],
                          expect=expect, bad=[str(bad)] if expect != "ok" else [], good=str(good) if with_good else None,
                          output=o, subprocess=sub, warn=warn))

    def write(name: str, data: bytes) -> Path:
        p = root / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
        return p

    # base files
    texts = text_corpora(root / "text")
    speech = speech_samples()
    wav = wav_bytes(speech)
    base = {
        "wav": wav,
        "flac": (DATA / "voice" / "03a01Wa.flac").read_bytes(),
        "jpg": (DATA / "face" / "fer_val_happy.jpg").read_bytes(),
        "png": _png_of(DATA / "face" / "fer_val_sad.jpg"),
        "txt": (EXAMPLES / "dialogue.txt").read_bytes(),
        "srt": _srt().encode(),
        "csv": texts["meld"].read_bytes(),
    }
    clip = short_clip(root / "clip.mp4")
    base["mp4"] = clip.read_bytes()

    # 1. truncations at many offsets (media: "any" — a short prefix may still decode; it must then
    #    not claim the header's duration, checked for the WAV/FLAC cases below)
    for ext, data in base.items():
        offsets = sorted({1, 2, 4, 8, 12, 16, 24, 44, 64, 100, 300} |
                         {int(len(data) * f) for f in (0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99)})
        for off in offsets:
            if off >= len(data):
                continue
            p = write(f"trunc/{ext}_{off}.{ext}", data[:off])
            analyze(f"truncate {ext} at {off}", p, expect="any")
    for frac in (0.3, 0.5):  # truncated audio: warned, with the real decoded duration
        p = write(f"trunc_warn/flac_{frac}.flac", base["flac"][:int(len(base["flac"]) * frac)])
        analyze(f"truncated flac {frac} warns", p, expect="ok", warn="truncated")
        p = write(f"trunc_warn/wav_{frac}.wav", wav[:int(len(wav) * frac)])
        analyze(f"truncated wav {frac} warns", p, expect="ok", warn="truncated")

    # 2. byte flips and zeroed headers
    for ext, data in base.items():
        for k in range(4):
            b = bytearray(data)
            for _ in range(1 + k * 3):
                b[rng.randrange(min(len(b), 2048))] ^= 0xFF
            analyze(f"flip {ext} #{k}", write(f"flip/{ext}_{k}.{ext}", bytes(b)), expect="any")
        for n in (4, 16, 64, 512):
            b = b"\0" * min(n, len(data)) + data[n:]
            analyze(f"zero {ext} head {n}", write(f"zero/{ext}_{n}.{ext}", b), expect="any")

    # 3. junk, empty, wrong extension
    for ext in ("mp4", "wav", "flac", "mp3", "mkv", "jpg", "png", "webp", "srt", "vtt", "txt", "csv", "tsv", "xyz"):
        analyze(f"junk .{ext}", write(f"junk/junk.{ext}", rng.randbytes(3000)), expect="any" if ext == "txt" else "error")
        analyze(f"empty .{ext}", write(f"empty/empty.{ext}", b""))
    analyze("jpeg named .wav", write("wrongext/face.wav", base["jpg"]), expect="any")
    analyze("text named .mp4", write("wrongext/text.mp4", base["txt"]))
    analyze("only whitespace", write("odd/blank.txt", b" \n\t\n  \n"))
    analyze("NUL text", write("odd/nul.txt", b"hello\0world\n" * 10))

    # 4. file system oddities
    (root / "fs").mkdir(exist_ok=True)
    analyze("missing file", root / "fs" / "missing.wav")
    d = root / "fs" / "folder.mp4"
    d.mkdir(exist_ok=True)
    analyze("directory", d)
    loop = root / "fs" / "loop.wav"
    if not loop.is_symlink():
        os.symlink(loop, loop)
    analyze("symlink loop", loop)
    dangling = root / "fs" / "dangling.wav"
    if not dangling.is_symlink():
        os.symlink(root / "fs" / "nowhere.wav", dangling)
    analyze("dangling symlink", dangling)
    fifo = root / "fs" / "pipe.wav"
    if not fifo.exists():
        os.mkfifo(fifo)
    analyze("FIFO", fifo)
    dev = root / "fs" / "urandom.mp4"
    if not dev.is_symlink():
        os.symlink("/dev/urandom", dev)
    analyze("/dev/urandom", dev)
    analyze("/dev/null", "/dev/null")

    # 5. console markup in names, text, subtitles, tables and -o
    markup = "Ann: I am [bold]so[/] happy [/red] today\nBen: [link=x]yes[/link] \\[escaped]\nAnn: [/]\n"
    analyze("markup text", write("markup/text.txt", markup.encode()), expect="ok", quiet=False)
    analyze("markup name", write("markup/[bold]odd[/] name [/red].txt", markup.encode()), expect="ok", quiet=False)
    analyze("markup bad name", write("markup/[/red]broken[.wav", b"junk" * 10), quiet=False)
    analyze("markup srt", write("markup/subs.srt", _srt("[red]loud[/] [/]").encode()), expect="ok", quiet=False)
    analyze("markup csv", write("markup/d.csv", b"Speaker,Utterance\n[bold]Ann[/],I am [/] fine\nBen,[red]ok\n"), expect="ok", quiet=False)
    o = str(root / "out" / "[/red]weird[b].json")
    cases.append(Case("markup -o", ["analyze", str(good), "--no-asr", "-o", o], expect="ok", good=str(good), output=o))

    # 6. text encodings, sizes and subtitle/table validity
    utt = "Ann: I am so happy today.\nBen: That is wonderful news!\n"
    for enc in ("utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-8-sig"):
        data = utt.encode(enc)
        if enc in ("utf-16-le", "utf-16-be"):
            data = ("\ufeff" + utt).encode(enc)
        analyze(f"text {enc} with BOM", write(f"enc/{enc}.txt", data), expect="ok")
    analyze("cp1252 text", write("enc/cp1252.txt", "Ann: café résumé naïve\n".encode("cp1252")), expect="ok")
    analyze("utf-16 without BOM", write("enc/utf16nobom.txt", utt.encode("utf-16-le")))
    big = root / "size" / "big.txt"
    big.parent.mkdir(exist_ok=True)
    with open(big, "wb") as f:
        f.truncate(60 * 1024**2)
    analyze("60 MB sparse text", big)
    many = write("size/many_lines.txt", b"".join(b"Ann: line %d is fine\n" % i for i in range(200_000)))
    analyze("200k utterances", many, sub=True)
    analyze("srt start > end", write("subs/backwards.srt",
                                     b"1\n00:00:03,000 --> 00:00:01,000\nhello there\n\n"))
    analyze("srt bad stamp", write("subs/badstamp.srt", b"1\n00:00:99,000 --> 00:00:01,000\nhi\n\n"))
    analyze("vtt no cues", write("subs/nocues.vtt", b"WEBVTT\n\nNOTE nothing here\n"))
    analyze("vtt ok", write("subs/ok.vtt", b"WEBVTT\n\n00:00.000 --> 00:01.500\n<v Ann>I am glad\n\n"), expect="ok")
    analyze("csv extra fields", write("table/extra.csv", b"Speaker,Utterance\nAnn,hi,there,extra\nBen,ok\n"))
    analyze("csv no text column", write("table/nocol.csv", b"a,b\n1,2\n"))
    analyze("csv header only", write("table/header.csv", b"Speaker,Utterance\n"))
    analyze("csv bad quote", write("table/quote.csv", b'Speaker,Utterance\nAnn,"unclosed\n'), expect="any")
    analyze("tsv binary", write("table/bin.tsv", b"a\tb\n\0\0\0\n"))

    # 7. odd WAV headers
    one_s = speech[:16000]
    pcm = (one_s * 32767).astype("<i2").tobytes()
    odd = {
        "bits0": wav_header(len(pcm), bits=0) + pcm,
        "bits1": wav_header(len(pcm), bits=1) + pcm,
        "bits7": wav_header(len(pcm), bits=7) + pcm,
        "bits64int": wav_header(len(pcm), bits=64) + pcm,
        "rate1": wav_header(len(pcm) * 3, rate=1) + pcm * 3,
        "rate0": wav_header(len(pcm), rate=0) + pcm,
        "rate100": wav_header(len(pcm), rate=100) + pcm,
        "rate3999": wav_header(len(pcm), rate=3999) + pcm,
        "rate_huge": wav_header(len(pcm), rate=4_000_000_000) + pcm,
        "channels0": wav_header(len(pcm), channels=0) + pcm,
        "channels65535": wav_header(len(pcm), channels=65535) + pcm,
        "block0": wav_header(len(pcm), block_align=0) + pcm,
        "byterate0": wav_header(len(pcm), byte_rate=0) + pcm,
        "datalen_huge": wav_header(0xFFFFFFF0) + pcm,
        "datalen0": wav_header(0) + pcm,
        "no_samples": wav_header(0),
        "fmt_tag_unknown": wav_header(len(pcm), fmt_tag=0x1234) + pcm,
        "fmt_tag_0": wav_header(len(pcm), fmt_tag=0) + pcm,
        "nan": wav_bytes(np.full(16000, np.nan, np.float32), fmt_tag=3),
        "inf": wav_bytes(np.full(16000, np.inf, np.float32), fmt_tag=3),
        "half_nan": wav_bytes(np.where(np.arange(32000) % 2 == 0, np.nan, np.tile(one_s, 2)).astype(np.float32), fmt_tag=3),
        "float_huge": wav_bytes(np.full(16000, 1e30, np.float32), fmt_tag=3),
        "silence": wav_bytes(np.zeros(32000, np.float32)),
        "riff_only": b"RIFF\0\0\0\0WAVE",
        "fmt_huge": b"RIFF\xff\xff\xff\xffWAVEfmt \xff\xff\xff\x7f" + b"\0" * 64,
    }
    expect = {"silence": "ok", "half_nan": "ok", "datalen_huge": "any", "datalen0": "any", "float_huge": "any",
              "block0": "any", "byterate0": "any", "bits64int": "any", "bits7": "any", "channels65535": "any"}
    for key, data in odd.items():
        analyze(f"wav {key}", write(f"wav/{key}.wav", data), expect=expect.get(key, "error"),
                warn="NaN" if key == "half_nan" else None)
    # a 96 KB WAV whose header says 1 Hz (13 h); a sparse 19 GiB WAV: refused from the header
    p = write("wav/rate1_96k.wav", wav_header(96_000, rate=1, bits=8) + bytes(96_000))
    analyze("wav 1 Hz 96 KB", p, sub=True)
    sparse = root / "wav" / "sparse19g.wav"
    with open(sparse, "wb") as f:
        f.write(wav_header(0xFFFFFFF0))
        f.truncate(19 * 1024**3)
    analyze("sparse 19 GiB wav", sparse, sub=True)
    long_hdr = root / "wav" / "long_header.wav"  # 16 kHz but 26 h claimed; only 1 s present
    long_hdr.write_bytes(wav_header(3_000_000_000) + pcm)
    analyze("wav claims 26 h", long_hdr, expect="error")

    # 8. image bombs (decided from the header, before decoding)
    jpg = base["jpg"]
    analyze("jpeg claims 14000x14000", write("bomb/claim.jpg", jpeg_claiming(jpg, 14000, 14000)), sub=True)
    analyze("jpeg claims 65535x65535", write("bomb/claim_max.jpg", jpeg_claiming(jpg, 65535, 65535)))
    analyze("jpeg claims 0x0", write("bomb/claim0.jpg", jpeg_claiming(jpg, 0, 0)))
    analyze("png claims 100000x100000", write("bomb/claim.png", png_header_bomb(100_000, 100_000)))
    analyze("png claims 12000x10000", write("bomb/claim120.png", png_header_bomb(12_000, 10_000)))
    analyze("png claims 1x200M", write("bomb/strip.png", png_header_bomb(1, 200_000_000)))
    analyze("png real 10000^2", write("bomb/real100mp.png", png_real_bomb(10_000)), sub=True)
    analyze("png real 3000^2 (9 MP, allowed)", write("bomb/real9mp.png", png_real_bomb(3000)), expect="ok")
    analyze("png claims 0 width", write("bomb/zero.png", png_header_bomb(0, 10)))
    analyze("jpeg 14000x14000 named .mp4", write("bomb/claim_as_video.mp4", jpeg_claiming(jpg, 14000, 14000)))
    analyze("png 12000x10000 named .mkv", write("bomb/claim_as_video.mkv", png_header_bomb(12_000, 10_000)))

    # 9. options
    for fps in ("0", "-1", "inf", "nan", "-inf", "1e9", "abc", ""):
        cases.append(Case(f"--fps {fps!r}", ["analyze", str(good), "--fps", fps], expect="usage"))
    for opt in (["--modalities", "smell"], ["-o", str(root / "out" / "x.docx")], ["--llm-timeout", "-1"],
                ["--llm-timeout", "nan"], ["--llm", "http://localhost:9"]):
        cases.append(Case(f"option {' '.join(opt)}", ["analyze", str(good), *opt], expect="usage"))
    cases.append(Case("no inputs", ["analyze"], expect="usage"))
    cases.append(Case("unknown command", ["frobnicate"], expect="usage"))
    for opt in (["--limit", "0"], ["--limit", "-3"], ["--batch", "0"]):
        cases.append(Case(f"eval {' '.join(opt)}", ["eval", "text", str(texts["goemotions"]), *opt],
                          expect="usage"))
    bad_tr = write("subs/transcript_bad.srt", b"not a subtitle\n")
    o = out_path()
    cases.append(Case("bad --transcript", ["analyze", str(good), "--transcript", str(bad_tr), "-q", "--no-asr", "-o", o],
                      expect="error", bad=[str(bad_tr)], good=str(good), output=o))
    # -o places
    (root / "out").mkdir(exist_ok=True)
    blocker = write("out/file_not_dir", b"x")
    for name, o in (("-o into missing folder", str(root / "out" / "new" / "deeper" / "r.json")),):
        cases.append(Case(name, ["analyze", str(good), "-q", "--no-asr", "-o", o], expect="ok", good=str(good), output=o))
    for name, o in (("-o under a file", str(blocker / "r.json")), ("-o in /proc", "/proc/affectlens_r.json"),
                    ("-o is a directory", str(root / "out" / "dir.json"))):
        if name == "-o is a directory":
            Path(o).mkdir(exist_ok=True)
        cases.append(Case(name, ["analyze", str(good), "-q", "--no-asr", "-o", o], expect="error", bad=[o]))

    # 10. eval corpora with bad items, and reports
    cases += _bad_corpora(root, rng, jpg)
    cases += _bad_reports(root, good)
    return cases


def _png_of(jpg: Path) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    with Image.open(jpg) as im:
        im.save(buf, format="PNG")
    return buf.getvalue()


def _srt(text: str = "I am so glad to see you") -> str:
    return "".join(f"{i + 1}\n00:00:0{i},000 --> 00:00:0{i},900\n{text} {i}\n\n" for i in range(3))


def _bad_corpora(root: Path, rng: random.Random, jpg: bytes) -> list[Case]:
    cases = []
    c = root / "corpora"

    def case(name, task, data, expect="ok", bad=()):
        cases.append(Case(name, ["eval", task, str(data), "--json", str(c / f"{len(cases)}.json")],
                          expect=expect, bad=[str(b) for b in bad]))

    # faces: FER tree with one unreadable image, one unknown label, a missing target
    tree = c / "fer"
    shutil.copytree(DATA / "corpora" / "fer", tree, dirs_exist_ok=True)
    (tree / "happy" / "broken.jpg").write_bytes(b"\xff\xd8junk")
    (tree / "happy" / "bomb.jpg").write_bytes(jpeg_claiming(jpg, 14000, 14000))
    case("fer one unreadable", "face", tree)
    tree2 = c / "fer_label"
    shutil.copytree(DATA / "corpora" / "fer", tree2, dirs_exist_ok=True)
    (tree2 / "bananas").mkdir(exist_ok=True)
    (tree2 / "bananas" / "x.jpg").write_bytes(jpg)
    case("fer unknown label folder", "face", tree2)
    tree3 = c / "fer_mostly_bad"
    for lab in ("happy", "sad"):
        (tree3 / lab).mkdir(parents=True, exist_ok=True)
        for i in range(5):
            (tree3 / lab / f"b{i}.jpg").write_bytes(rng.randbytes(200))
    (tree3 / "sad" / "ok.jpg").write_bytes(jpg)
    case("fer mostly unreadable", "face", tree3, expect="error", bad=[tree3])
    # speech manifest: missing file, unknown label, junk audio, non-UTF-8
    sp = c / "speech"
    sp.mkdir(parents=True, exist_ok=True)
    for f in (DATA / "voice").glob("*.flac"):
        shutil.copy(f, sp / f.name)
    (sp / "junk.flac").write_bytes(rng.randbytes(500))
    rows = ["path,label,speaker"] + [f"{f.name},{lab},s{i}" for i, (f, lab) in enumerate(
        zip(sorted(sp.glob("0*.flac")), ("happy", "sad", "angry", "angry", "sad")))]
    rows += ["missing.flac,happy,s9", "junk.flac,sad,s9", "03a01Wa.flac,bananas,s9", "03a01Wa.flac,,s9"]
    (sp / "manifest.csv").write_text("\n".join(rows) + "\n")
    case("speech manifest with bad rows", "voice", sp / "manifest.csv")
    (sp / "latin1.csv").write_bytes(("\n".join(rows[:4]) + "\ncaf\xe9.flac,happy,s1\n").encode("latin-1"))
    case("speech manifest non-UTF-8", "voice", sp / "latin1.csv")
    (sp / "nocols.csv").write_text("file,emotion\na.flac,happy\n")
    case("speech manifest no path column", "voice", sp / "nocols.csv", expect="error", bad=[sp / "nocols.csv"])
    texts = text_corpora(c / "text")
    # GoEmotions: -1 id, id out of range, non-integer, missing column, non-UTF-8
    ge = c / "goemotions.tsv"
    lines = texts["goemotions"].read_bytes().splitlines()
    lines += [b"bad id\t-1\tx1", b"too big\t99\tx2", b"words\tabc\tx3", b"no label column", b"caf\xe9 latin\t1\tx4"]
    ge.write_bytes(b"\n".join(lines) + b"\n")
    case("goemotions bad rows", "text", ge)
    ge_bad = c / "goemotions_bad.tsv"
    ge_bad.write_bytes(b"".join(b"row %d\t-%d\tx\n" % (i, i + 1) for i in range(20)) + lines[0] + b"\n")
    case("goemotions mostly bad", "text", ge_bad, expect="error", bad=[ge_bad])
    # EmoBank: non-numeric values
    eb = c / "emobank.csv"
    eb_lines = texts["emobank"].read_text().splitlines()
    head = eb_lines[0].split(",")
    bad_row = ["x"] * len(head)
    bad_row[head.index("text")] = "an odd row"
    eb.write_text("\n".join(eb_lines + [",".join(bad_row)]) + "\n")
    case("emobank non-numeric", "vad", eb)
    # dialogue: unknown label, extra fields
    dl = c / "meld.csv"
    ml = texts["meld"].read_text().splitlines()
    dl.write_text("\n".join(ml + [ml[1].replace("neutral", "bananas").replace("joy", "bananas")]) + "\n")
    case("meld unknown label", "dialogue", dl)
    # eval av: a missing image, junk audio and an unknown label beside four good rows
    face, voice = DATA / "face", DATA / "voice"
    good_rows = [f"{face / 'fer_val_happy.jpg'},{voice / '03a01Wa.flac'},,happy,happy,happy",
                 f"{face / 'fer_val_angry.jpg'},{voice / '03-01-05-02-01-01-03.flac'},,angry,angry,angry",
                 f"{face / 'fer_val_sad.jpg'},{voice / '03-01-04-01-02-01-10.flac'},,sad,sad,sad",
                 f"{face / 'fer_val_happy.jpg'},{voice / '03-01-05-02-01-01-03.flac'},,happy,angry,"]
    bad_rows = [f"{c / 'missing.jpg'},,,happy,,happy", f",{sp / 'junk.flac'},,,sad,sad",
                f"{face / 'fer_val_sad.jpg'},,,bananas,,bananas"]
    header = "image_or_video,audio,text,face_label,voice_label,label"
    (c / "av.csv").write_text("\n".join([header, *good_rows, *bad_rows]) + "\n")
    case("av manifest with bad rows", "av", c / "av.csv")
    (c / "av_bad.csv").write_text("\n".join([header, good_rows[0], *bad_rows]) + "\n")
    case("av manifest mostly bad", "av", c / "av_bad.csv", expect="error", bad=[c / "av_bad.csv"])
    # missing corpus, a file where a folder is expected, a directory where a file is expected
    case("eval missing corpus", "voice", c / "nope", expect="error", bad=[c / "nope"])
    case("eval face on a file", "face", ge, expect="error", bad=[ge])
    case("eval text on a folder", "text", tree, expect="error", bad=[tree])
    return cases


def _bad_reports(root: Path, good: Path) -> list[Case]:
    r = root / "reports"
    r.mkdir(exist_ok=True)
    files = {"not_json.json": b"{nope", "empty.json": b"", "list_of_junk.json": b"[1, 2, 3]",
             "wrong_schema.json": json.dumps({"media": 3}).encode(), "binary.json": bytes(range(256)),
             "[bold]markup[red].json": b"[bold]x[/]"}
    cases = []
    for name, data in files.items():
        p = r / name
        p.write_bytes(data)
        cases.append(Case(f"report {name}", ["report", str(p), "-o", str(r / "out.html")], bad=[str(p)]))
    cases.append(Case("report on a folder", ["report", str(r), "-o", str(r / "out.html")], bad=[str(r)]))
    cases.append(Case("report missing", ["report", str(r / "none.json"), "-o", str(r / "o.html")],
                      bad=[str(r / "none.json")]))
    return cases


# ------------------------------------------------------------------ checking and running
EXIT = {"ok": {0}, "error": {1}, "usage": {2}, "any": {0, 1}}
PREFIXES = ("error:", "warning:", "wrote ", "read ", "usage:", "affectlens")


@dataclass
class Result:
    case: Case
    rc: int | None
    stdout: str
    stderr: str
    seconds: float
    max_rss_mb: float | None = None
    hung: bool = False


def problems(res: Result) -> list[str]:
    """Everything wrong with one run (empty when it behaved)."""
    case, out = res.case, []
    text = res.stdout + res.stderr
    if res.hung:
        return [f"hung (> {res.seconds:.0f} s)"]
    if "Traceback" in text:
        out.append("traceback: " + res.stderr.strip().splitlines()[-1][:200])
    if res.rc is not None and res.rc < 0:
        out.append(f"killed by signal {-res.rc}")
    if res.rc not in EXIT[case.expect]:
        out.append(f"exit {res.rc}, expected {case.expect}")
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith("error:")]
    if case.expect != "usage":
        stray = [ln for ln in lines if not ln.startswith(PREFIXES)]
        if stray:
            out.append(f"stray stderr line (not one-line): {stray[0][:160]!r}")
        if res.rc == 1 and not errors:
            out.append("failed without an error: line")
        if res.rc == 1:
            for bad in case.bad:
                if not any(bad in ln for ln in errors):
                    out.append(f"no error line names {bad}")
    if case.warn and res.rc == 0 and not any(ln.startswith("warning:") and case.warn in ln for ln in lines):
        out.append(f"no warning mentioning {case.warn!r}")
    if case.good and case.output:
        out += _good_written(case)
    if res.max_rss_mb is not None and res.max_rss_mb > 1500:
        out.append(f"max RSS {res.max_rss_mb:.0f} MB > 1500 MB")
    return out


def _good_written(case: Case) -> list[str]:
    try:
        data = json.loads(Path(case.output).read_text())
    except (OSError, ValueError) as exc:
        return [f"good input not written to {case.output} ({type(exc).__name__})"]
    data = data if isinstance(data, list) else [data]
    if not any(a.get("media", {}).get("path") == case.good for a in data):
        return [f"good input {case.good} missing from {case.output}"]
    return []


def run_inprocess(case: Case, timeout: float = 60.0) -> Result:
    """Run ``affectlens.cli.main(argv)`` in this process, output captured, with a timer."""
    import contextlib
    import signal
    import time
    import traceback

    from affectlens import cli

    class Hang(BaseException):
        pass

    def alarm(*_):
        raise Hang()

    out, err = io.StringIO(), io.StringIO()
    old = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, timeout)
    t0, hung = time.monotonic(), False
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                rc = cli.main(case.argv)
            except SystemExit as exc:
                rc = exc.code if isinstance(exc.code, int) else 1
            except Hang:
                rc, hung = None, True
            except BaseException:  # noqa: BLE001 - recorded as a traceback
                traceback.print_exc()
                rc = None
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    return Result(case, rc, out.getvalue(), err.getvalue(), time.monotonic() - t0, hung=hung)


def run_subprocess(case: Case, timeout: float = 120.0, env: dict | None = None) -> Result:
    """Run ``python -m affectlens ARGV`` with a timeout; measures its peak RSS (wait4)."""
    import resource
    import subprocess
    import sys
    import tempfile
    import time

    src = str(HERE.parent / "src")
    env = {**os.environ, "PYTHONPATH": src + os.pathsep + os.environ.get("PYTHONPATH", ""), **(env or {})}
    with tempfile.TemporaryFile() as fo, tempfile.TemporaryFile() as fe:
        t0 = time.monotonic()
        proc = subprocess.Popen([sys.executable, "-m", "affectlens", *case.argv], stdout=fo, stderr=fe,
                                stdin=subprocess.DEVNULL, env=env)
        hung, status, usage, peak_kb = False, 0, None, 0
        while True:
            peak_kb = max(peak_kb, _vm_hwm_kb(proc.pid))
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() - t0 > timeout:
                proc.kill()
                _, status, usage = os.wait4(proc.pid, 0)
                hung = True
                break
            time.sleep(0.05)
        proc.returncode = os.waitstatus_to_exitcode(status)
        # wait4's peak includes the parent's pages copied at fork: trust it only above our own peak
        if usage.ru_maxrss > resource.getrusage(resource.RUSAGE_SELF).ru_maxrss:
            peak_kb = max(peak_kb, usage.ru_maxrss)
        fo.seek(0)
        fe.seek(0)
        return Result(case, proc.returncode, fo.read().decode(errors="replace"), fe.read().decode(errors="replace"),
                      time.monotonic() - t0, max_rss_mb=peak_kb / 1024, hung=hung)


def _vm_hwm_kb(pid: int) -> int:
    """The process' own peak resident size (VmHWM, kB), 0 once it is gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            return next((int(line.split()[1]) for line in f if line.startswith("VmHWM:")), 0)
    except (OSError, ValueError):
        return 0


def _with_defaults(case: Case) -> Case:
    argv, out = [], iter(case.argv)
    for a in out:
        if a == "--fps":
            next(out)
        elif a != "--no-asr":
            argv.append(a)
    return Case(**{**case.__dict__, "argv": argv})


def main(argv: list[str]) -> int:
    """``python tests/bad_inputs.py DIR [--only-sub] [--jobs N]``: build under DIR, run every case as a
    subprocess, print one line per problem and the totals."""
    import argparse
    from concurrent.futures import ThreadPoolExecutor

    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--timeout", type=float, default=120.0)
    ap.add_argument("--defaults", action="store_true",
                    help="only the media cases, with analyze's default options (ASR on, 5 fps)")
    args = ap.parse_args(argv)
    cases = build(Path(args.dir))
    if args.defaults:
        cases = [_with_defaults(c) for c in cases if c.argv[0] == "analyze" and "--no-asr" in c.argv
                 and Path(c.argv[1] if c.argv[1] != c.good else c.argv[2]).suffix in (".mp4", ".wav", ".flac", ".mkv")]
    with ThreadPoolExecutor(args.jobs) as pool:
        results = list(pool.map(lambda c: run_subprocess(c, args.timeout), cases))
    bad = 0
    for res in results:
        for p in problems(res):
            bad += 1
            print(f"{res.case.name}: {p}")
    tb = sum("Traceback" in r.stderr for r in results)
    lost = sum(any("good input" in p for p in problems(r)) for r in results)
    print(json.dumps({"runs": len(results), "problems": bad, "tracebacks": tb,
                      "hangs": sum(r.hung for r in results), "signals": sum((r.rc or 0) < 0 for r in results),
                      "max_rss_mb": round(max(r.max_rss_mb or 0 for r in results)),
                      "over_1.5GB": sum((r.max_rss_mb or 0) > 1500 for r in results),
                      "good_lost": lost, "max_seconds": round(max(r.seconds for r in results), 1)}))
    return 1 if bad else 0


if __name__ == "__main__":
    import sys

    sys.path.insert(0, str(HERE.parent))
    sys.exit(main(sys.argv[1:]))
