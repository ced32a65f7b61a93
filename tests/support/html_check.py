#!/usr/bin/env python3
"""Reads an HTML page on stdin with Python's html.parser (a parser independent of the
template engine that wrote it) and prints what tests/report_html_browser.rs checks, as JSON:
every element's tag and attributes, each run of text between tags with the element it is
in, the scripts and style sheets, and each data table's body rows.

Character references in text are decoded here, as a browser does: html.unescape would drop
references to control characters (`&#x1B;`), which HTML keeps."""

import html
import json
import sys
from html.parser import HTMLParser

VOID = {"meta", "link", "br", "input", "img", "hr", "wbr", "source", "area", "base", "col",
        "embed", "param", "track"}


class Page(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=False)
        self.elements = []  # [tag, {attr: value}]
        self.texts = []     # [parent tag, text] outside script and style
        self.scripts = []   # {"attrs": {...}, "text": "..."}
        self.styles = []
        self.tables = {}    # id -> [{"hidden": bool, "cells": [text, ...]}]
        self.stack = []
        self.table = None
        self.row = None
        self.cell = None
        self.joined = False  # the last text chunk continues (no tag since)

    def handle_starttag(self, tag, attrs):
        self.joined = False
        values = {name: (value if value is not None else "") for name, value in attrs}
        self.elements.append([tag, values])
        if tag == "script":
            self.scripts.append({"attrs": values, "text": ""})
        elif tag == "style":
            self.styles.append("")
        elif tag == "table":
            self.table = values.get("id", "")
            self.tables[self.table] = []
        elif tag == "tr" and self.table is not None and "tbody" in self.stack:
            self.row = {"hidden": "hidden" in values, "cells": []}
            self.tables[self.table].append(self.row)
        elif tag == "td" and self.row is not None:
            self.row["cells"].append("")
            self.cell = True
        if tag not in VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        self.joined = False
        if tag in self.stack:
            while self.stack and self.stack.pop() != tag:
                pass
        if tag == "table":
            self.table = None
        elif tag == "tr":
            self.row = None
        elif tag == "td":
            self.cell = None

    def handle_charref(self, name):
        code = int(name[1:], 16) if name[:1] in "xX" else int(name)
        self.handle_data(chr(code))

    def handle_entityref(self, name):
        self.handle_data(html.unescape("&" + name + ";"))

    def handle_data(self, data):
        top = self.stack[-1] if self.stack else ""
        if top == "script":
            self.scripts[-1]["text"] += data
        elif top == "style":
            self.styles[-1] += data
        else:
            if self.joined:
                self.texts[-1][1] += data
            else:
                self.texts.append([top, data])
            self.joined = True
            if self.cell is not None and self.row is not None:
                self.row["cells"][-1] += data


page = Page()
page.feed(sys.stdin.read())
page.close()
json.dump({"elements": page.elements, "texts": page.texts, "scripts": page.scripts,
           "styles": page.styles, "tables": page.tables}, sys.stdout)
