//! The OpenAPI document's error responses, added in one place for every operation: each
//! operation lists the statuses our layers and extractors can answer with, each one
//! `application/problem+json` with the `Problem` schema, as `problem::problem_bodies`
//! guarantees on the wire. Handlers document only their success responses and the errors
//! that say something particular about them (their descriptions are kept).

use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::{Content, Ref, RefOr, ResponseBuilder};

/// The problem content type every error response has.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// Statuses any operation may answer: no or an unknown key (401), a key without the scope
/// (403), storage unavailable, busy or read-only, or the writer stopped (503).
const EVERY_OPERATION: [(&str, &str); 3] = [
    ("401", "No API key, or one that is unknown or revoked"),
    ("403", "The key's scope may not call this operation"),
    ("503", "Storage unavailable, busy or read-only, or the writer stopped; retry later"),
];

/// Statuses of an operation that takes parameters or a body: one that does not parse (400),
/// a value the rules refuse (422).
const WITH_INPUT: [(&str, &str); 2] = [
    ("400", "Malformed request: a parameter or body field that does not parse (`field` names it)"),
    ("422", "A value the rules refuse (`field` names it, `code` says why)"),
];

/// Statuses of an operation with a path parameter: nothing under that id (404).
const WITH_PATH_ID: (&str, &str) = ("404", "Nothing is known under the id in the path");

/// Statuses of a PUT or POST: an `Idempotency-Key` still in use, or a resource sent again
/// under its id with another body (409).
const WRITES: (&str, &str) = ("409", "Conflict: `Idempotency-Key` in use, or the id was recorded with another body");

/// Statuses of an operation with a body: too large (413), not `application/json` (415).
const WITH_BODY: [(&str, &str); 2] = [("413", "The body is over 1 MiB"), ("415", "The body is not `application/json`")];

/// Adds the error statuses to every operation of `doc` and makes every error response's
/// content `application/problem+json` with the `Problem` schema.
pub fn document_problems(doc: &mut utoipa::openapi::OpenApi) {
    for item in doc.paths.paths.values_mut() {
        // PUT and POST take an `Idempotency-Key` and resend resources under their ids: 409.
        let ops = [&mut item.get, &mut item.put, &mut item.post, &mut item.delete, &mut item.patch];
        for (op, writes) in ops.into_iter().zip([false, true, true, false, true]) {
            if let Some(op) = op.as_mut() {
                add_problems(op, writes);
            }
        }
    }
}

fn add_problems(op: &mut Operation, writes: bool) {
    let mut statuses: Vec<(&str, &str)> = EVERY_OPERATION.to_vec();
    let has_path_param = op.parameters.iter().flatten().any(|p| matches!(p.parameter_in, ParameterIn::Path));
    if op.parameters.as_ref().is_some_and(|p| !p.is_empty()) || op.request_body.is_some() {
        statuses.extend(WITH_INPUT);
    }
    if has_path_param {
        statuses.push(WITH_PATH_ID);
    }
    if writes {
        statuses.push(WRITES);
    }
    if op.request_body.is_some() {
        statuses.extend(WITH_BODY);
    }
    for (status, description) in statuses {
        op.responses
            .responses
            .entry(status.to_owned())
            .or_insert_with(|| ResponseBuilder::new().description(description).into());
    }
    for (status, response) in op.responses.responses.iter_mut() {
        let is_error = status.starts_with('4') || status.starts_with('5');
        if let (true, RefOr::T(response)) = (is_error, response) {
            response.content.clear();
            response.content.insert(PROBLEM_JSON.to_owned(), Content::new(Some(Ref::from_schema_name("Problem"))));
        }
    }
}
