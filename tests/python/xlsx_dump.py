"""Dumps an .xlsx workbook as JSON, as openpyxl (a reader nobody in Duban wrote) reads it: per sheet, its
frozen pane, column widths, and every cell with its type (openpyxl's data_type: n number, s string,
b boolean, f formula) and value. The Rust test of the Excel exports checks this dump.

Usage: python3 xlsx_dump.py FILE.xlsx
"""

import json
import sys

import openpyxl


def main(path):
    book = openpyxl.load_workbook(path)
    dump = {"sheets": []}
    for sheet in book.worksheets:
        dump["sheets"].append(
            {
                "name": sheet.title,
                "freeze_panes": sheet.freeze_panes,
                "widths": {
                    letter: dimension.width
                    for letter, dimension in sheet.column_dimensions.items()
                },
                "rows": [
                    [
                        {
                            "type": cell.data_type,
                            # repr(): the shortest text that reads back as the double.
                            "value": repr(cell.value) if isinstance(cell.value, float) else cell.value,
                            "format": cell.number_format,
                        }
                        for cell in row
                    ]
                    for row in sheet.iter_rows()
                ],
            }
        )
    json.dump(dump, sys.stdout, ensure_ascii=False, default=str)


if __name__ == "__main__":
    main(sys.argv[1])
