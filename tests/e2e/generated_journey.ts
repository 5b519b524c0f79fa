// The types openapi-typescript generates from the served document (api.ts), held to what the
// server takes and answers: `tsc --strict` compiles this file, and every `@ts-expect-error`
// must meet an error (tests/e2e/test_generated_clients.py).
import type { components, operations } from "./api";

type Schemas = components["schemas"];

// A receipt: money as a decimal string, or a number.
export const receipt: Schemas["ReceiptIn"] = {
  sku: "SKU-1",
  warehouseId: "WH-A",
  quantity: 10,
  purchaseOrderId: "PO-7",
  unitCost: "2.35",
  supplier: "Acme",
};

export const reservation: Schemas["ReservationIn"] = {
  orderId: "ORDER-1001",
  lines: [{ sku: "SKU-1", warehouseId: "WH-A", quantity: 3 }],
};

// A shipment names its shipmentId and orderId, and a reservation or lines (or both).
export const ofReservation: Schemas["ShipmentIn"] = {
  shipmentId: "SHIP-1",
  orderId: "ORDER-1001",
  reservationId: "R-1",
};
export const ofLines: Schemas["ShipmentIn"] = {
  shipmentId: "SHIP-2",
  orderId: "ORDER-1002",
  lines: [{ sku: "SKU-1", warehouseId: "WH-A", quantity: 1 }],
};
// @ts-expect-error: no shipmentId
export const withoutId: Schemas["ShipmentIn"] = { orderId: "ORDER-1001", reservationId: "R-1" };
// @ts-expect-error: neither a reservation nor lines
export const neither: Schemas["ShipmentIn"] = { shipmentId: "SHIP-3", orderId: "ORDER-1001" };

// A replay is the original 201, marked by its header.
type Reserved = operations["reserve"]["responses"][201];
export const replayed: Reserved["headers"]["Idempotent-Replayed"] = "true";
export const reservationId = (answer: Reserved["content"]["application/json"]): string =>
  answer.reservationId;

// The level with its version as ETag and where it was read.
type Level = operations["stock_level"]["responses"][200];
export const etag: Level["headers"]["ETag"] = '"7"';
export const source: Level["headers"]["X-Stock-Source"] = "redis";
export const available = (level: Level["content"]["application/json"]): number =>
  level.available;

// History: each event with the balance after it.
type History = operations["stock_history"]["responses"][200]["content"]["application/json"];
export const balances = (history: History): number[] =>
  history.events.map((event) => event.balance.onHand);

// Time travel takes `timestamp` or `version` as plain query parameters.
type At = NonNullable<operations["stock_at"]["parameters"]["query"]>;
export const byVersion: At = { version: 7 };
export const byInstant: At = { timestamp: "2026-11-17T15:47:00-05:00" };

// Problems are typed: 409 names the short lines, 422 each error.
type Short = operations["reserve"]["responses"][409]["content"]["application/problem+json"];
export const shortBy = (problem: Short): number[] =>
  (problem.lines ?? []).map((line) => line.requested - line.available);
type Invalid = operations["receive"]["responses"][422]["content"]["application/problem+json"];
export const where = (problem: Invalid): string[] =>
  (problem.errors ?? []).map((error) => `${error.location}: ${error.message}`);

// Finance's answers have their fields.
type Valuation = operations["inventory_valuation"]["responses"][200]["content"]["application/json"];
export const value = (page: Valuation): string => page.totals.value;
type Cogs = operations["cogs_report"]["responses"][200]["content"]["application/json"];
export const cogs = (report: Cogs): string => report.totals.costOfGoodsSold;
