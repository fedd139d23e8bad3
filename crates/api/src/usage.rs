//! `GET /_lambent/usage?granularity=day|month&format=json|csv[&function=NAME]`: what each function
//! used per UTC day or month, with its cost at the server's prices (Lambda's x86 prices unless
//! configured). Not a Lambda operation; signed like the Lambda API when credentials are configured.
//!
//! `MbMilliseconds` is the exact sum of Billed Duration × Memory Size of the REPORT lines;
//! GB-seconds are it / 1024 / 1000.

use crate::metrics::{invalid, metering};
use crate::query::QueryParams;
use crate::{ApiError, AppState, json_response};
use axum::extract::{RawQuery, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use lambent_metering::{Granularity, Prices, UsageRow};
use serde_json::json;
use std::fmt::Write as _;

pub const ROUTE: &str = "/_lambent/usage";

const CSV_HEADER: &str = "FunctionName,Period,Requests,BilledDurationMs,MbMilliseconds,GbSeconds,EphemeralGbSeconds,RequestCost,ComputeCost,EphemeralStorageCost,TotalCost\n";

pub async fn get(State(state): State<AppState>, raw: RawQuery) -> Result<Response, ApiError> {
    let metering = metering(&state)?;
    let params = QueryParams::parse(&raw);
    let granularity = match params.get("granularity").unwrap_or("day") {
        "day" => Granularity::Day,
        "month" => Granularity::Month,
        other => {
            return Err(invalid(format!(
                "granularity '{other}' is not one of: day, month"
            )));
        }
    };
    let csv = match params.get("format").unwrap_or("json") {
        "json" => false,
        "csv" => true,
        other => {
            return Err(invalid(format!(
                "format '{other}' is not one of: json, csv"
            )));
        }
    };
    let mut rows = metering
        .usage(granularity)
        .await
        .map_err(|e| ApiError::service(e.to_string()))?;
    if let Some(function) = params.get("function") {
        rows.retain(|r| r.function == function);
    }
    let prices = metering.prices();
    if csv {
        return Ok((
            StatusCode::OK,
            [(header::CONTENT_TYPE, "text/csv; charset=utf-8")],
            render_csv(&rows, prices),
        )
            .into_response());
    }
    let total_requests: u64 = rows.iter().map(|r| r.requests).sum();
    let total_mb_ms: u64 = rows.iter().map(|r| r.mb_ms).sum();
    let total_cost: f64 = rows.iter().map(|r| total(r, prices)).sum();
    Ok(json_response(
        StatusCode::OK,
        json!({
            "Granularity": match granularity { Granularity::Day => "day", Granularity::Month => "month" },
            "Currency": "USD",
            "Prices": {
                "PerMillionRequests": prices.per_million_requests,
                "PerGbSecond": prices.per_gb_second,
                "EphemeralStoragePerGbSecond": prices.ephemeral_per_gb_second,
            },
            "Usage": rows.iter().map(|r| row_json(r, prices)).collect::<Vec<_>>(),
            "Total": {
                "Requests": total_requests,
                "MbMilliseconds": total_mb_ms,
                "Cost": total_cost,
            },
        }),
    ))
}

fn total(row: &UsageRow, prices: &Prices) -> f64 {
    let (requests, compute, ephemeral) = row.cost(prices);
    requests + compute + ephemeral
}

fn row_json(row: &UsageRow, prices: &Prices) -> serde_json::Value {
    let (requests, compute, ephemeral) = row.cost(prices);
    json!({
        "FunctionName": row.function,
        "Period": row.period,
        "Requests": row.requests,
        "BilledDurationMs": row.billed_ms,
        "MbMilliseconds": row.mb_ms,
        "GbSeconds": row.gb_seconds(),
        "EphemeralGbSeconds": row.ephemeral_gb_seconds(),
        "RequestCost": requests,
        "ComputeCost": compute,
        "EphemeralStorageCost": ephemeral,
        "TotalCost": requests + compute + ephemeral,
    })
}

fn render_csv(rows: &[UsageRow], prices: &Prices) -> String {
    let mut out = String::from(CSV_HEADER);
    for row in rows {
        let (requests, compute, ephemeral) = row.cost(prices);
        let _ = writeln!(
            out,
            "{},{},{},{},{},{},{},{},{},{},{}",
            csv_field(&row.function),
            row.period,
            row.requests,
            row.billed_ms,
            row.mb_ms,
            row.gb_seconds(),
            row.ephemeral_gb_seconds(),
            requests,
            compute,
            ephemeral,
            requests + compute + ephemeral
        );
    }
    out
}

/// Function names cannot hold commas or quotes today; quoting keeps the CSV valid regardless.
fn csv_field(value: &str) -> String {
    if value.contains([',', '"', '\n']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_has_a_header_and_one_line_per_row() {
        let rows = vec![UsageRow {
            function: "f".into(),
            period: "2026-11".into(),
            requests: 2,
            billed_ms: 1000,
            mb_ms: 1_024_000,
            ephemeral_mb_ms: 0,
        }];
        let csv = render_csv(&rows, &Prices::default());
        let lines: Vec<_> = csv.lines().collect();
        assert_eq!(lines.len(), 2);
        assert!(
            lines[1].starts_with("f,2026-11,2,1000,1024000,1,0,"),
            "{}",
            lines[1]
        );
        assert_eq!(csv_field("a,b"), "\"a,b\"");
    }
}
