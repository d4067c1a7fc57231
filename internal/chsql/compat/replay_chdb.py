"""Replays recorded statements on current ClickHouse's engine (chDB).

Reads a JSON file {"logs": [{"db": NAME, "statements": [{"kind": K, "sql": S}, ...]}]}
and writes one JSON line per statement to stdout:
{"db": NAME, "i": INDEX, "code": ERROR_CODE or 0, "error": TEXT, "tsv": ANSWER}.
Each log runs in a database of its own, in one chDB session whose mutations
are synchronous (ClickHouse 18.16's replay waits for them instead).
"""
import json
import os
import re
import sys
import tempfile

import chdb
from chdb import session

CODE = re.compile(r"Code: (\d+)")


def main():
    with open(sys.argv[1]) as f:
        plan = json.load(f)
    out = sys.stdout
    with tempfile.TemporaryDirectory(prefix="footfall-chdb-") as path:
        sess = session.Session(path)
        print(json.dumps({"version": sess.query("SELECT version()", "TSV").bytes().decode().strip()}), file=out, flush=True)
        for log in plan["logs"]:
            db = log["db"]
            sess.query("CREATE DATABASE IF NOT EXISTS " + db)
            sess.query("USE " + db)
            sess.query("SET mutations_sync = 2")
            for i, st in enumerate(log["statements"]):
                res = {"db": db, "i": i, "code": 0, "error": "", "tsv": ""}
                try:
                    r = sess.query(st["sql"], "TSV")
                    if st["kind"] == "query":
                        res["tsv"] = r.bytes().decode("utf-8", "replace")
                except Exception as e:  # chDB raises with the server's message
                    msg = str(e)
                    m = CODE.search(msg)
                    res["code"] = int(m.group(1)) if m else -1
                    res["error"] = msg[:2000]
                print(json.dumps(res), file=out, flush=True)
            sess.query("USE default")
            sess.query("DROP DATABASE IF EXISTS " + db)
        sess.close()


if __name__ == "__main__":
    os.environ.setdefault("TZ", "UTC")
    main()
