#!/usr/bin/env node
/**
 * A department's own reporting system, filing a monthly report to Duban over gRPC.
 *
 * It makes the calls the integration guide (examples/README.md) describes, in its order:
 *
 * 1. who am I: DepartmentsService.GetCallerIdentity;
 * 2. what do I owe: ReportingService.ListObligations, then one report that is owed;
 * 3. fill every slot of that report's template, respecting each slot's unit, basis and
 *    decimal places;
 * 4. SubmitReport with a fresh request_id, then the very same request again, as after a
 *    lost response: the same revision comes back and nothing is stored twice;
 * 5. a value with one decimal place too many, refused with INVALID_ARGUMENT and a
 *    google.rpc.BadRequest naming the field.
 *
 * Usage:
 *     node department_system.js --address 127.0.0.1:50051 --token TOKEN
 * or with DUBAN_ADDRESS and DUBAN_TOKEN in the environment. Every call has a deadline.
 * It exits non-zero on anything it did not expect.
 */
'use strict';

const crypto = require('node:crypto');
const path = require('node:path');
const { parseArgs } = require('node:util');

const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');
const protobuf = require('protobufjs');

// proto/ of this repository: the contract, loaded at run time, so it is never stale.
const PROTO_ROOT = path.resolve(__dirname, '..', '..', 'proto');
// How long any one call may take; Duban answers DEADLINE_EXCEEDED after it.
const DEADLINE_MS = 10_000;
// This department's figures. A real system reads them from its own records; this one
// makes every figure from these digits, cut to the decimal places each target takes.
const SAMPLE_DIGITS = '12.3456789';

/** Duban answered something this system does not expect: stop, exit non-zero. */
class Unexpected extends Error {}

/**
 * The services this system calls, from the .proto files. Field names stay as written in
 * them (`target_code`), enums are their names (`OBLIGATION_STATE_DUE`), and a
 * `duban.common.v1.Decimal` is a string, so no amount passes through a JS number.
 */
function loadContract() {
  const definition = protoLoader.loadSync(
    ['duban/departments/v1/departments.proto', 'duban/reporting/v1/reporting.proto'],
    { includeDirs: [PROTO_ROOT], keepCase: true, enums: String, longs: String, defaults: true, oneofs: true },
  );
  return grpc.loadPackageDefinition(definition).duban;
}

/**
 * google.rpc.Status and its detail types (ErrorInfo, BadRequest …), from the copies in
 * proto/google/rpc, to read the `grpc-status-details-bin` trailer.
 */
function loadErrorModel() {
  return new protobuf.Root().loadSync(
    ['google/rpc/status.proto', 'google/rpc/error_details.proto'].map((file) => path.join(PROTO_ROOT, file)),
    { keepCase: true },
  );
}

/**
 * Duban's front door as this system calls it: every call carries the department's token
 * as `authorization: Bearer` metadata, and a deadline.
 */
class Duban {
  constructor(address, token, contract) {
    const credentials = grpc.credentials.createInsecure();
    this.departments = new contract.departments.v1.DepartmentsService(address, credentials);
    this.reporting = new contract.reporting.v1.ReportingService(address, credentials);
    this.metadata = new grpc.Metadata();
    this.metadata.set('authorization', `Bearer ${token}`);
  }

  call(client, method, request) {
    return new Promise((resolve, reject) => {
      client[method](request, this.metadata, { deadline: Date.now() + DEADLINE_MS }, (error, response) =>
        error ? reject(error) : resolve(response),
      );
    });
  }

  close() {
    this.departments.close();
    this.reporting.close();
  }
}

function parseCommandLine() {
  const { values } = parseArgs({
    options: {
      address: { type: 'string', default: process.env.DUBAN_ADDRESS },
      token: { type: 'string', default: process.env.DUBAN_TOKEN },
      plan: { type: 'string', default: process.env.DUBAN_PLAN ?? 'plans/jiading-2023' },
    },
  });
  if (!values.address || !values.token) {
    console.error('usage: node department_system.js --address HOST:PORT --token TOKEN [--plan plans/PLAN]');
    console.error('       (or set DUBAN_ADDRESS and DUBAN_TOKEN; the environment keeps the token out of `ps`)');
    process.exit(2);
  }
  return values;
}

async function main() {
  const args = parseCommandLine();
  const errorModel = loadErrorModel();
  const duban = new Duban(args.address, args.token, loadContract());
  try {
    await fileAReport(duban, errorModel, args.plan);
  } catch (error) {
    if (error instanceof Unexpected) {
      console.error(`unexpected: ${error.message}`);
    } else if (error.code !== undefined && error.metadata) {
      console.error('unexpected error:');
      describeError(error, errorModel, console.error);
    } else {
      console.error(error);
    }
    process.exitCode = 1;
  } finally {
    duban.close();
  }
}

async function fileAReport(duban, errorModel, plan) {
  // 1. Who am I? The token decides; a department system acts for its own unit only.
  const identity = await duban.call(duban.departments, 'GetCallerIdentity', {});
  if (identity.principal.role !== 'ROLE_DEPARTMENT') {
    throw new Unexpected(`the token is not a department's: ${identity.principal.role}`);
  }
  const department = identity.department;
  console.log(
    `caller ${department.code} ${department.display_name} ` +
      `(${department.display_name_en}, ${identity.principal.credential})`,
  );

  // 2. What do I owe? Obligations default to the caller's department.
  const { obligations, today } = await listObligations(duban, plan);
  const obligation = pickObligation(obligations, today);
  console.log(
    `obligation ${obligation.report} ${obligation.state} due ${formatDate(obligation.due_date)} ` +
      `(${obligations.length} listed, today ${formatDate(today)})`,
  );

  // 3. Fill every slot of the template: its unit and basis as given, the figure with at
  // most its decimal places, as a decimal string (never a JS number).
  const slots = obligation.template.slots;
  const report = {
    measure_number: obligation.measure_number,
    department: obligation.department,
    period: obligation.period,
    overall_status: 'OVERALL_STATUS_ON_TRACK',
    narrative: '本月按计划推进，各项指标数据已按模板填报。',
    metric_values: slots.map((slot) => ({
      target_code: slot.target_code,
      value: { value: figureFor(places(slot)) },
      unit: slot.unit,
      basis: slot.basis,
    })),
  };
  for (const [i, slot] of slots.entries()) {
    const value = report.metric_values[i].value.value;
    console.log(`fill ${slot.target_code} ${value} ${slot.unit} ${slot.basis} (decimal_places ${places(slot)})`);
  }

  // 4. Submit with a fresh request_id, then retry the same request: a retry after a
  // timeout or a lost connection must not store a second revision.
  const request = { parent: plan, report, request_id: crypto.randomUUID() };
  const first = await duban.call(duban.reporting, 'SubmitReport', request);
  console.log(`submitted ${first.name} revision ${first.revision} request_id ${request.request_id}`);
  const retried = await duban.call(duban.reporting, 'SubmitReport', request);
  console.log(`retried ${retried.name} revision ${retried.revision} request_id ${request.request_id}`);
  if (retried.name !== first.name || retried.revision !== first.revision || retried.etag !== first.etag) {
    throw new Unexpected('the retry did not return the revision first stored');
  }

  // 5. A value with one decimal place more than its target takes: refused, and the
  // BadRequest names the field. The slot with the most places shows the rule best.
  const index = slots.reduce((best, slot, i) => (places(slot) > places(slots[best]) ? i : best), 0);
  const wrong = structuredClone(request);
  wrong.request_id = crypto.randomUUID();
  wrong.report.metric_values[index].value.value = figureFor(places(slots[index]) + 1);
  try {
    await duban.call(duban.reporting, 'SubmitReport', wrong);
  } catch (error) {
    if (error.code !== grpc.status.INVALID_ARGUMENT) {
      throw error;
    }
    const violations = describeError(error, errorModel, console.log);
    const field = `report.metric_values[${index}].value`;
    if (!violations.some((violation) => violation.field === field)) {
      throw new Unexpected(`the BadRequest does not name ${field}`);
    }
    return;
  }
  throw new Unexpected(`${slots[index].target_code} = ${wrong.report.metric_values[index].value.value} was accepted`);
}

/** Every obligation of the caller's department, newest period first, all pages. */
async function listObligations(duban, plan) {
  const obligations = [];
  let pageToken = '';
  for (;;) {
    const page = await duban.call(duban.reporting, 'ListObligations', {
      parent: plan,
      page_size: 500,
      page_token: pageToken,
    });
    obligations.push(...page.obligations);
    pageToken = page.next_page_token;
    if (!pageToken) {
      return { obligations, today: page.today };
    }
  }
}

/**
 * The report to file: the newest one DUE (owed now), else the newest LATE, else the
 * current period's (NOT_DUE, but its month has begun, so it may be sent early). Only
 * reports with figures to fill are considered: this example is about filling them.
 */
function pickObligation(obligations, today) {
  const begun = (period) => period.year < today.year || (period.year === today.year && period.month <= today.month);
  const candidates = obligations.filter((obligation) => obligation.template.slots.length > 0 && begun(obligation.period));
  for (const state of ['OBLIGATION_STATE_DUE', 'OBLIGATION_STATE_LATE', 'OBLIGATION_STATE_NOT_DUE']) {
    const found = candidates.find((obligation) => obligation.state === state);
    if (found) {
      return found;
    }
  }
  throw new Unexpected('no report with figures is owed (DUE, LATE or NOT_DUE) by this department');
}

/** How many digits the slot's value may have after the point (always set by Duban). */
function places(slot) {
  return slot.decimal_places ?? 0;
}

/**
 * This department's figure, written with exactly `decimalPlaces` digits after the point:
 * a whole number for counted units, and well under 100 for PERCENT. A real system would
 * look it up by the slot's target_code.
 */
function figureFor(decimalPlaces) {
  const [whole, fraction] = SAMPLE_DIGITS.split('.');
  return decimalPlaces === 0 ? whole : `${whole}.${fraction.padEnd(decimalPlaces, '0').slice(0, decimalPlaces)}`;
}

function formatDate(date) {
  return `${String(date.year).padStart(4, '0')}-${String(date.month).padStart(2, '0')}-${String(date.day).padStart(2, '0')}`;
}

/**
 * Prints a Duban error: its code, the ErrorInfo reason (one table of reasons for the
 * whole suite, domain `duban`) and every BadRequest field violation, all read from the
 * google.rpc.Status in the `grpc-status-details-bin` trailer. Returns the violations.
 */
function describeError(error, errorModel, print) {
  print(`refused ${grpc.status[error.code]}: ${error.details}`);
  const [encoded] = error.metadata.get('grpc-status-details-bin');
  if (!encoded) {
    return [];
  }
  const status = errorModel.lookupType('google.rpc.Status').decode(encoded);
  const violations = [];
  for (const detail of status.details) {
    const typeName = detail.type_url.slice(detail.type_url.lastIndexOf('/') + 1);
    if (typeName === 'google.rpc.ErrorInfo') {
      const info = errorModel.lookupType(typeName).decode(detail.value);
      print(`reason ${info.reason} domain ${info.domain} ${JSON.stringify(info.metadata)}`);
    } else if (typeName === 'google.rpc.BadRequest') {
      const badRequest = errorModel.lookupType(typeName).decode(detail.value);
      for (const violation of badRequest.field_violations) {
        print(`violation ${violation.field}: ${violation.description}`);
      }
      violations.push(...badRequest.field_violations);
    }
  }
  return violations;
}

main();
