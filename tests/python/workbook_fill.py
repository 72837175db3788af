"""The unit's report workbook as a person sees and fills it, through openpyxl (a reader and writer nobody
in Duban wrote).

    python3 workbook_fill.py dump FILE.xlsx
        prints JSON: every sheet with its state (visible or hidden), whether it is protected, its cells
        as text by coordinate, the cells left unlocked for typing, and its data validations.
    python3 workbook_fill.py fill IN.xlsx OUT.xlsx '{"报送!E2": "按计划推进 on track", "报送!I2": 1.5}'
        types each value into its cell (numbers as numbers, `YYYY-MM-DD` as a date, as Excel takes a date
        typed so, other text as text, including the list cells: the provisional flag `是 yes`, a milestone's
        status, a blocker's severity `高 high`, and anything a list would refuse, as a clerk typing over
        a list does), empties a cell given null (a clerk deleting what they typed), and saves the workbook
        as OUT.
"""

import datetime
import json
import re
import sys

import openpyxl


def dump(path):
    book = openpyxl.load_workbook(path)
    sheets = []
    for sheet in book.worksheets:
        cells = {}
        unlocked = []
        for row in sheet.iter_rows():
            for cell in row:
                if cell.value is not None:
                    cells[cell.coordinate] = str(cell.value)
                if cell.protection is not None and cell.protection.locked is False:
                    unlocked.append(cell.coordinate)
        sheets.append(
            {
                "name": sheet.title,
                "state": sheet.sheet_state,
                "protected": bool(sheet.protection.sheet),
                "cells": cells,
                "unlocked": unlocked,
                "validations": [
                    {
                        "type": validation.type,
                        "ranges": str(validation.sqref),
                        "formula1": validation.formula1,
                    }
                    for validation in sheet.data_validations.dataValidation
                ],
            }
        )
    print(json.dumps({"sheets": sheets}, ensure_ascii=False))


def fill(source, target, values):
    book = openpyxl.load_workbook(source)
    for place, value in json.loads(values).items():
        sheet, coordinate = place.split("!")
        if isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            value = datetime.date.fromisoformat(value)
        # openpyxl keeps the cell's style (its unlocked protection and fill) when only the value changes.
        book[sheet][coordinate] = value
    book.save(target)


if __name__ == "__main__":
    if sys.argv[1] == "dump":
        dump(sys.argv[2])
    else:
        fill(sys.argv[2], sys.argv[3], sys.argv[4])
