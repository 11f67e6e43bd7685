//! The served OpenAPI document describes the API it serves: every operation lists the
//! problem+json responses the layers can give, ids carry the parser's pattern and length, and
//! amounts and points are integers with the limits' bounds (issue 14 §2).

mod common;

use common::spawn_app;
use loyalty_core::ids::{id_pattern, MAX_ID_LEN};
use loyalty_core::limits::MAX_POINTS;
use loyalty_core::order::{MAX_AMOUNT_MINOR, MAX_LINES, MAX_QUANTITY};
use serde_json::Value;

async fn served_document() -> Value {
    let app = spawn_app().await;
    let r = app.client.get(format!("{}/openapi.json", app.base)).send().await.unwrap();
    r.json().await.unwrap()
}

/// Follows a `$ref` to a component schema, or returns the schema itself.
fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    match schema["$ref"].as_str() {
        Some(r) => &doc["components"]["schemas"][r.trim_start_matches("#/components/schemas/")],
        None => schema,
    }
}

fn property<'a>(doc: &'a Value, schema: &str, field: &str) -> &'a Value {
    let p = &doc["components"]["schemas"][schema]["properties"][field];
    assert!(!p.is_null(), "{schema}.{field} is documented");
    resolve(doc, p)
}

fn assert_integer(p: &Value, lo: i64, hi: i64, what: &str) {
    assert_eq!(p["type"], "integer", "{what} is an integer: {p}");
    assert_eq!(p["minimum"].as_f64(), Some(lo as f64), "{what}'s minimum: {p}");
    assert_eq!(p["maximum"].as_f64(), Some(hi as f64), "{what}'s maximum: {p}");
}

fn assert_id(p: &Value, what: &str) {
    assert_eq!(p["type"], "string", "{what}: {p}");
    assert_eq!(p["pattern"].as_str(), Some(id_pattern().as_str()), "{what}'s pattern: {p}");
    assert_eq!(p["maxLength"].as_u64(), Some(MAX_ID_LEN as u64), "{what}'s maxLength: {p}");
    assert_eq!(p["minLength"].as_u64(), Some(1), "{what}'s minLength: {p}");
}

#[tokio::test]
async fn every_operation_documents_its_problems_as_problem_json() {
    let doc = served_document().await;
    let mut operations = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            operations += 1;
            let responses = op["responses"].as_object().unwrap();
            let mut statuses = vec!["401", "403", "503"];
            let has_parameters = op["parameters"].as_array().is_some_and(|p| !p.is_empty());
            if has_parameters || op.get("requestBody").is_some() {
                statuses.extend(["400", "422"]);
            }
            if path.contains('{') {
                statuses.push("404");
            }
            if op.get("requestBody").is_some() {
                statuses.extend(["413", "415"]);
            }
            for status in statuses {
                assert!(responses.contains_key(status), "{method} {path} documents {status}");
            }
            for (status, r) in responses.iter().filter(|(s, _)| s.starts_with('4') || s.starts_with('5')) {
                let content = r["content"].as_object().unwrap();
                assert_eq!(
                    content.keys().collect::<Vec<_>>(),
                    ["application/problem+json"],
                    "{method} {path} {status}"
                );
                let schema = &content["application/problem+json"]["schema"]["$ref"];
                assert_eq!(schema, "#/components/schemas/Problem", "{method} {path} {status}");
            }
        }
    }
    assert!(operations >= 28, "{operations} operations");
}

#[tokio::test]
async fn ids_carry_the_parsers_pattern_and_length() {
    let doc = served_document().await;
    for (schema, field) in
        [("OrderInput", "id"), ("OrderInput", "member_id"), ("RefundInput", "id"), ("HoldRequest", "order_id")]
    {
        assert_id(property(&doc, schema, field), &format!("{schema}.{field}"));
    }
    for (path, method) in [
        ("/v1/members/{id}", "get"),
        ("/v1/orders/{id}", "get"),
        ("/v1/members/{id}/points/holds/{hold_id}/capture", "post"),
    ] {
        for p in doc["paths"][path][method]["parameters"].as_array().unwrap().iter().filter(|p| p["in"] == "path") {
            assert_id(resolve(&doc, &p["schema"]), &format!("{method} {path} {}", p["name"]));
        }
    }
}

#[tokio::test]
async fn amounts_points_and_quantities_are_bounded_integers() {
    let doc = served_document().await;
    for (schema, field) in [
        ("LineInput", "unit_price_minor"),
        ("LineInput", "paid_minor"),
        ("OrderInput", "shipping_minor"),
        ("HoldRequest", "order_amount_minor"),
    ] {
        assert_integer(property(&doc, schema, field), 0, MAX_AMOUNT_MINOR, &format!("{schema}.{field}"));
    }
    assert_integer(property(&doc, "LineInput", "quantity"), 1, MAX_QUANTITY, "LineInput.quantity");
    assert_integer(property(&doc, "HoldRequest", "points"), 1, MAX_POINTS, "HoldRequest.points");
    let lines = property(&doc, "OrderInput", "lines");
    assert_eq!(lines["minItems"].as_u64(), Some(1));
    assert_eq!(lines["maxItems"].as_u64(), Some(MAX_LINES as u64));
}

/// JSON Schema counts `116.0` an integer, so a body the document allows must not be refused
/// for writing one that way (schemathesis found `quantity: 145.0` refused as a float); a real
/// fraction is still a 400 naming the field.
#[tokio::test]
async fn integers_written_with_a_zero_fraction_are_integers() {
    let app = spawn_app().await;
    app.member("flo").await;
    let mut o = common::order("o-float", "flo", 5_000, 1);
    o["lines"][0]["quantity"] = serde_json::json!(1.0);
    o["lines"][0]["unit_price_minor"] = serde_json::json!(5_000.0);
    let (s, placed) = app.post("/v1/orders", o).await;
    assert_eq!(s, reqwest::StatusCode::CREATED, "{placed}");
    assert_eq!(placed["lines"][0]["quantity"], 1, "{placed}");
    let mut o = common::order("o-frac", "flo", 5_000, 1);
    o["lines"][0]["quantity"] = serde_json::json!(1.5);
    let (s, refused) = app.post("/v1/orders", o).await;
    assert_eq!(s, reqwest::StatusCode::BAD_REQUEST, "{refused}");
    assert_eq!(refused["field"], "lines[0].quantity", "{refused}");
}

/// `GET /v1/models/clv` answers `params: null` for a model that could not be fitted: the
/// schema allows it.
#[tokio::test]
async fn an_unfitted_models_params_may_be_null() {
    let doc = served_document().await;
    let params = &doc["components"]["schemas"]["ModelView"]["properties"]["params"];
    let allows_null = params["type"].as_array().is_some_and(|t| t.contains(&"null".into()))
        || params["oneOf"].as_array().is_some_and(|o| o.iter().any(|s| s["type"] == "null"));
    assert!(allows_null, "ModelView.params allows null: {params}");
}
