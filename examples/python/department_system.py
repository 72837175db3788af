#!/usr/bin/env python3
"""A department's own reporting system, filing a monthly report to Duban over gRPC.

It makes the calls the integration guide (examples/README.md) describes, in its order:

1. who am I: DepartmentsService.GetCallerIdentity;
2. what do I owe: ReportingService.ListObligations, then one report that is owed;
3. fill every slot of that report's template, respecting each slot's unit, basis and
   decimal places;
4. SubmitReport with a fresh request_id, then the very same request again, as after a
   lost response: the same revision comes back and nothing is stored twice;
5. a value with one decimal place too many, refused with INVALID_ARGUMENT and a
   google.rpc.BadRequest naming the field.

Usage:
    python3 department_system.py --address 127.0.0.1:50051 --token TOKEN
or with DUBAN_ADDRESS and DUBAN_TOKEN in the environment. Every call has a deadline.
It exits non-zero on anything it did not expect.
"""

import argparse
import importlib
import os
import sys
import tempfile
import uuid
from decimal import ROUND_DOWN, Decimal
from pathlib import Path

import grpc
import grpc_tools
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from grpc_tools import protoc

# proto/ of this repository: the contract, compiled at start so it is never stale.
PROTO_ROOT = Path(__file__).resolve().parents[2] / "proto"
# How long any one call may take; Duban answers DEADLINE_EXCEEDED after it.
DEADLINE_SECONDS = 10.0
# This department's figures. A real system reads them from its own records; this one
# makes every figure from these digits, cut to the decimal places each target takes.
SAMPLE_DIGITS = Decimal("12.3456789")


class Unexpected(Exception):
    """Duban answered something this system does not expect: stop, exit non-zero."""


def load_contract():
    """Generates Python modules for Duban's public contract (every proto/duban file but
    the suite's own *_internal.proto plumbing) into a temporary directory and imports the
    three this system uses. google/api and google/rpc come from googleapis-common-protos,
    google/protobuf from protobuf itself, so only Duban's own files are generated."""
    files = sorted(
        path.relative_to(PROTO_ROOT).as_posix()
        for path in (PROTO_ROOT / "duban").rglob("*.proto")
        if not path.name.endswith("_internal.proto")
    )
    well_known_types = Path(grpc_tools.__file__).parent / "_proto"
    with tempfile.TemporaryDirectory(prefix="duban-stubs-") as out:
        exit_code = protoc.main(
            [
                "grpc_tools.protoc",
                f"--proto_path={PROTO_ROOT}",
                f"--proto_path={well_known_types}",
                f"--python_out={out}",
                f"--grpc_python_out={out}",
                *files,
            ]
        )
        if exit_code != 0:
            raise SystemExit(f"protoc could not compile {PROTO_ROOT}")
        sys.path.insert(0, out)
        try:
            return {
                name: importlib.import_module(f"duban.{name}")
                for name in (
                    "common.v1.common_pb2",
                    "departments.v1.departments_pb2",
                    "departments.v1.departments_pb2_grpc",
                    "reporting.v1.reporting_pb2",
                    "reporting.v1.reporting_pb2_grpc",
                )
            }
        finally:
            sys.path.remove(out)


class Duban:
    """Duban's front door as this system calls it: every call carries the department's
    token as `authorization: Bearer` metadata, and a deadline."""

    def __init__(self, channel, token, contract):
        self.metadata = (("authorization", f"Bearer {token}"),)
        self.departments = contract["departments.v1.departments_pb2_grpc"].DepartmentsServiceStub(channel)
        self.reporting = contract["reporting.v1.reporting_pb2_grpc"].ReportingServiceStub(channel)

    def call(self, method, request):
        return method(request, metadata=self.metadata, timeout=DEADLINE_SECONDS)


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--address",
        default=os.environ.get("DUBAN_ADDRESS"),
        help="host:port of Duban's gateway (the front door); default $DUBAN_ADDRESS",
    )
    parser.add_argument(
        "--token",
        default=os.environ.get("DUBAN_TOKEN"),
        help="the department's bearer token; default $DUBAN_TOKEN (safer than the command line)",
    )
    parser.add_argument("--plan", default=os.environ.get("DUBAN_PLAN", "plans/jiading-2023"), help="the plan reported on")
    args = parser.parse_args()
    if not args.address or not args.token:
        parser.error("give --address and --token, or set DUBAN_ADDRESS and DUBAN_TOKEN")
    return args


def main():
    args = parse_args()
    contract = load_contract()
    with grpc.insecure_channel(args.address) as channel:
        duban = Duban(channel, args.token, contract)
        try:
            file_a_report(duban, contract, args.plan)
        except grpc.RpcError as error:
            print("unexpected error:", file=sys.stderr)
            describe_error(error, out=sys.stderr)
            return 1
        except Unexpected as problem:
            print(f"unexpected: {problem}", file=sys.stderr)
            return 1
    return 0


def file_a_report(duban, contract, plan):
    dpb = contract["departments.v1.departments_pb2"]
    rpb = contract["reporting.v1.reporting_pb2"]

    # 1. Who am I? The token decides; a department system acts for its own unit only.
    identity = duban.call(duban.departments.GetCallerIdentity, dpb.GetCallerIdentityRequest())
    if identity.principal.role != dpb.ROLE_DEPARTMENT:
        raise Unexpected(f"the token is not a department's: {dpb.Role.Name(identity.principal.role)}")
    department = identity.department
    print(
        f"caller {department.code} {department.display_name} "
        f"({department.display_name_en}, {identity.principal.credential})"
    )

    # 2. What do I owe? Obligations default to the caller's department.
    obligations, today = list_obligations(duban, rpb, plan)
    obligation = pick_obligation(obligations, today, rpb)
    due = obligation.due_date
    print(
        f"obligation {obligation.report} {rpb.ObligationState.Name(obligation.state)} "
        f"due {due.year:04}-{due.month:02}-{due.day:02} "
        f"({len(obligations)} listed, today {today.year:04}-{today.month:02}-{today.day:02})"
    )

    # 3. Fill every slot of the template: its unit and basis as given, the figure with at
    # most its decimal places, as a decimal string (never a float).
    report = rpb.Report(
        measure_number=obligation.measure_number,
        department=obligation.department,
        period=obligation.period,
        overall_status=rpb.OVERALL_STATUS_ON_TRACK,
        narrative="本月按计划推进，各项指标数据已按模板填报。",
    )
    cpb = contract["common.v1.common_pb2"]
    for slot in obligation.template.slots:
        figure = figure_for(slot, places(slot))
        report.metric_values.add(
            target_code=slot.target_code,
            value=cpb.Decimal(value=figure),
            unit=slot.unit,
            basis=slot.basis,
        )
        print(
            f"fill {slot.target_code} {figure} {cpb.QuantityUnit.Name(slot.unit)} "
            f"{cpb.ValueBasis.Name(slot.basis)} (decimal_places {places(slot)})"
        )

    # 4. Submit with a fresh request_id, then retry the same request: a retry after a
    # timeout or a lost connection must not store a second revision.
    request = rpb.SubmitReportRequest(parent=plan, report=report, request_id=str(uuid.uuid4()))
    first = duban.call(duban.reporting.SubmitReport, request)
    print(f"submitted {first.name} revision {first.revision} request_id {request.request_id}")
    retried = duban.call(duban.reporting.SubmitReport, request)
    print(f"retried {retried.name} revision {retried.revision} request_id {request.request_id}")
    if (retried.name, retried.revision, retried.etag) != (first.name, first.revision, first.etag):
        raise Unexpected("the retry did not return the revision first stored")

    # 5. A value with one decimal place more than its target takes: refused, and the
    # BadRequest names the field. The slot with the most places shows the rule best.
    index = max(range(len(report.metric_values)), key=lambda i: places(obligation.template.slots[i]))
    slot = obligation.template.slots[index]
    wrong = rpb.SubmitReportRequest()
    wrong.CopyFrom(request)
    wrong.request_id = str(uuid.uuid4())
    wrong.report.metric_values[index].value.value = figure_for(slot, places(slot) + 1)
    try:
        duban.call(duban.reporting.SubmitReport, wrong)
    except grpc.RpcError as error:
        if error.code() != grpc.StatusCode.INVALID_ARGUMENT:
            raise
        violations = describe_error(error, out=sys.stdout)
        field = f"report.metric_values[{index}].value"
        if field not in [violation.field for violation in violations]:
            raise Unexpected(f"the BadRequest does not name {field}") from None
    else:
        raise Unexpected(f"{slot.target_code} = {wrong.report.metric_values[index].value.value} was accepted")


def list_obligations(duban, rpb, plan):
    """Every obligation of the caller's department, newest period first, all pages."""
    obligations, page_token = [], ""
    while True:
        page = duban.call(
            duban.reporting.ListObligations,
            rpb.ListObligationsRequest(parent=plan, page_size=500, page_token=page_token),
        )
        obligations.extend(page.obligations)
        page_token = page.next_page_token
        if not page_token:
            return obligations, page.today


def pick_obligation(obligations, today, rpb):
    """The report to file: the newest one DUE (owed now), else the newest LATE, else the
    current period's (NOT_DUE, but its month has begun, so it may be sent early). Only
    reports with figures to fill are considered: this example is about filling them."""
    begun = (today.year, today.month)
    candidates = [
        obligation
        for obligation in obligations
        if obligation.template.slots and (obligation.period.year, obligation.period.month) <= begun
    ]
    for state in (rpb.OBLIGATION_STATE_DUE, rpb.OBLIGATION_STATE_LATE, rpb.OBLIGATION_STATE_NOT_DUE):
        for obligation in candidates:
            if obligation.state == state:
                return obligation
    raise Unexpected("no report with figures is owed (DUE, LATE or NOT_DUE) by this department")


def places(slot):
    """How many digits the slot's value may have after the point (always set by Duban)."""
    return slot.decimal_places if slot.HasField("decimal_places") else 0


def figure_for(slot, decimal_places):
    """This department's figure for `slot`, written with exactly `decimal_places` digits
    after the point: a whole number for counted units, and well under 100 for PERCENT."""
    del slot  # a real system would look the figure up by slot.target_code
    return str(SAMPLE_DIGITS.quantize(Decimal(1).scaleb(-decimal_places), rounding=ROUND_DOWN))


def describe_error(error, out):
    """Prints a Duban error: its code, the ErrorInfo reason (one table of reasons for the
    whole suite, domain `duban`) and every BadRequest field violation. Returns the
    violations."""
    print(f"refused {error.code().name}: {error.details()}", file=out)
    status = rpc_status.from_call(error)
    violations = []
    for detail in status.details if status else []:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            print(f"reason {info.reason} domain {info.domain} {dict(info.metadata)}", file=out)
        elif detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad_request = error_details_pb2.BadRequest()
            detail.Unpack(bad_request)
            for violation in bad_request.field_violations:
                print(f"violation {violation.field}: {violation.description}", file=out)
            violations.extend(bad_request.field_violations)
    return violations


if __name__ == "__main__":
    sys.exit(main())
