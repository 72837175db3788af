"""Dumps a .docx as JSON, as python-docx (a reader nobody in Duban wrote) reads it: the page size and
margins, every paragraph with its alignment and the East Asian font of its runs, and every table with
its cells, borders and column widths. The Rust test of the monthly bulletin checks this dump.

Usage: python3 docx_dump.py FILE.docx
"""

import json
import sys

import docx
from docx.oxml.ns import qn


def east_asia_fonts(paragraph):
    fonts = set()
    for run in paragraph.runs:
        r_pr = run._element.rPr
        if r_pr is not None and r_pr.rFonts is not None:
            font = r_pr.rFonts.get(qn("w:eastAsia"))
            if font:
                fonts.add(font)
    return sorted(fonts)


def table_borders(table):
    borders = table._tbl.tblPr.find(qn("w:tblBorders"))
    if borders is None:
        return {}
    return {child.tag.split("}")[1]: child.get(qn("w:val")) for child in borders}


def main(path):
    document = docx.Document(path)
    section = document.sections[0]
    dump = {
        "page": {
            "width_mm": round(section.page_width.mm),
            "height_mm": round(section.page_height.mm),
            "top_mm": round(section.top_margin.mm),
            "left_mm": round(section.left_margin.mm),
        },
        "paragraphs": [
            {
                "text": p.text,
                "alignment": str(p.alignment).split(" ")[0] if p.alignment is not None else None,
                "fonts": east_asia_fonts(p),
            }
            for p in document.paragraphs
        ],
        "tables": [
            {
                "rows": [[cell.text for cell in row.cells] for row in table.rows],
                "borders": table_borders(table),
                "column_widths_mm": [
                    round(column.width.mm, 1) if column.width is not None else None
                    for column in table.columns
                ],
            }
            for table in document.tables
        ],
    }
    json.dump(dump, sys.stdout, ensure_ascii=False)


if __name__ == "__main__":
    main(sys.argv[1])
