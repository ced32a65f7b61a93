#!/usr/bin/python3
"""Independent parsers for patchgap's report formats, used by tests/report_formats.rs and
tests/fleet_reports.rs: each mode parses one file with a library that knows nothing of
patchgap and prints what it read as JSON on stdout, for the Rust test to assert on.

  check_formats.py csv FILE          Python's csv module: {"rows": [[cell, ...], ...]}
  check_formats.py junit FILE XSD    lxml: XSD validation, then ElementTree: the suites
  check_formats.py prom FILE         prometheus_client's text parser: the families
  check_formats.py nagios FILE       the monitoring-plugins output rules: status, perfdata

Every failure (a missing module included) exits non-zero with the reason on stderr: a
test that cannot check must fail, never skip. Needs python3-lxml and
python3-prometheus-client (installed by .ci/run).
"""

import csv
import json
import re
import sys
import xml.etree.ElementTree as ET

from lxml import etree
from prometheus_client.parser import text_string_to_metric_families


def check_csv(path):
    with open(path, newline="", encoding="utf-8") as f:
        if not f.read().endswith("\r\n"):
            sys.exit("csv: the file does not end with CRLF")
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f, strict=True))
    return {"rows": rows}


def check_junit(path, xsd):
    schema = etree.XMLSchema(etree.parse(xsd))
    doc = etree.parse(path)
    if not schema.validate(doc):
        sys.exit(f"junit: {path} does not match {xsd}: {schema.error_log}")
    root = ET.parse(path).getroot()
    suites = []
    for suite in root.iter("testsuite"):
        cases = []
        for case in suite.iter("testcase"):
            status, message, text = "passed", None, None
            for kind in ("failure", "error", "skipped"):
                node = case.find(kind)
                if node is not None:
                    status, message, text = kind, node.get("message"), node.text
            out = case.find("system-out")
            cases.append({
                "classname": case.get("classname"),
                "name": case.get("name"),
                "status": status,
                "message": message,
                "text": text,
                "system_out": out.text if out is not None else None,
            })
        suites.append({
            "name": suite.get("name"),
            "tests": int(suite.get("tests")),
            "failures": int(suite.get("failures", 0)),
            "errors": int(suite.get("errors", 0)),
            "skipped": int(suite.get("skipped", 0)),
            "cases": cases,
        })
    return {"root": root.tag, "suites": suites}


def check_prom(path):
    with open(path, encoding="utf-8") as f:
        text = f.read()
    families = []
    for family in text_string_to_metric_families(text):
        families.append({
            "name": family.name,
            "type": family.type,
            "help": family.documentation,
            "samples": [
                {"name": s.name, "labels": s.labels, "value": s.value}
                for s in family.samples
            ],
        })
    return {"families": families}


STATUS = re.compile(r"^PATCHGAP (OK|WARNING|CRITICAL|UNKNOWN) - ([^|]*?) \| (.*)$")
PERF = re.compile(
    r"^'([^'=]+)'=(\d+(?:\.\d+)?)([a-zA-Z%]*);([~@0-9.:]*);([~@0-9.:]*);([0-9.]*);([0-9.]*)$"
)


def check_nagios(path):
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    if lines[-1] != "":
        sys.exit("nagios: output does not end with a newline")
    lines = lines[:-1]
    match = STATUS.match(lines[0])
    if not match:
        sys.exit(f"nagios: not a plugin status line: {lines[0]!r}")
    perfdata = {}
    for item in match.group(3).split():
        m = PERF.match(item)
        if not m:
            sys.exit(f"nagios: not a perfdata item: {item!r}")
        perfdata[m.group(1)] = {
            "value": float(m.group(2)),
            "warn": m.group(4),
            "crit": m.group(5),
        }
    for line in lines[1:]:
        if "|" in line:
            sys.exit(f"nagios: a detail line holds '|': {line!r}")
    return {
        "status": match.group(1),
        "text": match.group(2),
        "perfdata": perfdata,
        "details": lines[1:],
    }


def main():
    mode, path = sys.argv[1], sys.argv[2]
    if mode == "csv":
        result = check_csv(path)
    elif mode == "junit":
        result = check_junit(path, sys.argv[3])
    elif mode == "prom":
        result = check_prom(path)
    elif mode == "nagios":
        result = check_nagios(path)
    else:
        sys.exit(f"unknown mode {mode}")
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()
