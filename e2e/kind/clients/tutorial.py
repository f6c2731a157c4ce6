"""Writes the tutorial's producer.js and consumer.js into DIR, unchanged apart
from the broker address (localhost:9092 -> BOOTSTRAP), as e2e/clients does:
the code blocks under `### producter.js` and `### consumer.js` of the tutorial
(../shared/seed/000_64fc9b0151cb7bed.txt, or $KARST_TUTORIAL).

usage: tutorial.py TUTORIAL DIR BOOTSTRAP
"""
import pathlib
import sys

tutorial, out, bootstrap = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2]), sys.argv[3]
text = tutorial.read_text(encoding="utf-8")
for heading, name in (("producter.js", "producer.mjs"), ("consumer.js", "consumer.mjs")):
    start = text.index(f"### {heading}")
    block = text.index("```js", start) + len("```js")
    code = text[block:text.index("```", block)]
    assert "localhost:9092" in code, f"{heading}: no broker address to replace"
    (out / name).write_text(code.replace("localhost:9092", bootstrap), encoding="utf-8")
