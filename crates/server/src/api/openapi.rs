//! What the OpenAPI document says once for every operation instead of in each handler's
//! annotation: who may call it (401/403 on everything that needs a token, public
//! operations marked so), the error body of every error answer, `Retry-After` on 429,
//! the 503 of a school between servers, `Doorplate-Served-By` on every answer, and what
//! the ids are.

use utoipa::openapi::content::ContentBuilder;
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::path::{Operation, Parameter};
use utoipa::openapi::response::{Response, ResponseBuilder};
use utoipa::openapi::schema::{ArrayItems, Object, ObjectBuilder, Schema, Type};
use utoipa::openapi::security::SecurityRequirement;
use utoipa::openapi::{OpenApi, Ref, RefOr};

/// Operations anyone may call (they check a password or a pairing code themselves).
const PUBLIC: [&str; 3] = ["/api/v1/auth/login", "/api/v1/devices/pair", "/api/v1/school"];

/// How an id looks on the wire.
pub(crate) const ID: &str =
    "An opaque id: a string (of decimal digits today). Compare it as text; do not compute with it.";

/// Applies everything this module says to `doc`, after the routes were merged into it.
pub fn complete(doc: &mut OpenApi) {
    let components = doc.components.get_or_insert_with(Default::default);
    components.schemas.insert("Error".into(), error_schema().into());
    for schema in components.schemas.values_mut() {
        if let RefOr::T(Schema::Object(o)) = schema {
            describe_id_fields(o);
        }
    }
    for (path, item) in doc.paths.paths.iter_mut() {
        let public = PUBLIC.contains(&path.as_str());
        let ops = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ];
        for op in ops.into_iter().flatten() {
            complete_operation(op, public);
        }
    }
}

fn complete_operation(op: &mut Operation, public: bool) {
    if public {
        // An empty requirement: no token needed (the document's default asks a bearer).
        op.security = Some(vec![SecurityRequirement::default()]);
    } else {
        let r = &mut op.responses.responses;
        r.entry("401".into())
            .or_insert_with(|| error_response("Not signed in, or the token is unknown, expired or ended").into());
        r.entry("403".into())
            .or_insert_with(|| error_response("This caller may not do this").into());
    }
    // Any request may reach a school that is between servers, or whose server does not
    // answer the one that forwards it (district/forward.rs).
    op.responses
        .responses
        .entry("503".into())
        .or_insert_with(|| error_response(UNAVAILABLE).into());
    for (status, response) in op.responses.responses.iter_mut() {
        let RefOr::T(response) = response else { continue };
        response.headers.entry("Doorplate-Served-By".into()).or_insert_with(|| {
            HeaderBuilder::new()
                .schema(Some(Object::with_type(Type::String)))
                .description(Some(
                    "The name (`serve --name`) of the server that hosted the school and made this answer",
                ))
                .build()
                .into()
        });
        if status == "503" && !response.headers.contains_key("Retry-After") {
            response.headers.insert(
                "Retry-After".into(),
                HeaderBuilder::new()
                    .schema(Some(Object::with_type(Type::Integer)))
                    .description(Some(
                        "Seconds to wait before trying again (the school is between servers, or its server does not answer)",
                    ))
                    .build()
                    .into(),
            );
        }
        if !status.starts_with('4') && !status.starts_with('5') {
            continue;
        }
        if response.description.is_empty() {
            response.description = default_description(status).into();
        }
        if response.content.is_empty() {
            response.content.insert(
                "application/json".into(),
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name("Error")))
                    .build()
                    .into(),
            );
        }
        if status == "429" && !response.headers.contains_key("Retry-After") {
            response.headers.insert(
                "Retry-After".into(),
                HeaderBuilder::new()
                    .schema(Some(Object::with_type(Type::Integer)))
                    .description(Some("Seconds to wait before trying again"))
                    .build()
                    .into(),
            );
        }
    }
    for p in op.parameters.iter_mut().flatten() {
        if let RefOr::T(p) = p {
            describe_id_parameter(p);
        }
    }
}

/// What a 503 may mean on any operation.
const UNAVAILABLE: &str = "The school is between servers (`school_moving`) or the server that hosts it does not answer (`host_unreachable`): try again after `Retry-After` seconds; a failed store is `storage_unavailable`";

fn default_description(status: &str) -> &'static str {
    match status {
        "400" => "Bad input",
        "401" => "Not signed in, or the credential is wrong",
        "403" => "Not allowed",
        "404" => "Unknown (also for what the caller may not know exists)",
        "409" => "Conflict",
        "413" => "Too large",
        "415" => "Not the content type this endpoint reads",
        "422" => "Valid, but impossible",
        "429" => "Too many attempts: wait `Retry-After` seconds",
        _ => "Error",
    }
}

/// `{"error": {"code", "message", "params"?}}`, the body of every error answer.
fn error_schema() -> Schema {
    let detail = ObjectBuilder::new()
        .property(
            "code",
            ObjectBuilder::new()
                .schema_type(Type::String)
                .description(Some("snake_case, stable: what a program checks")),
        )
        .property(
            "message",
            ObjectBuilder::new()
                .schema_type(Type::String)
                .description(Some("English text, for logs and programs; faces word the code")),
        )
        .property(
            "params",
            ObjectBuilder::new().schema_type(Type::Object).description(Some(
                "What a face needs to word the code in its reader's language, where the code has \
                 parameters: `field` (the request field at fault), `max` (a limit)",
            )),
        )
        .required("code")
        .required("message");
    ObjectBuilder::new()
        .property("error", detail)
        .required("error")
        .build()
        .into()
}

fn error_response(description: &str) -> Response {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("Error")))
                .build(),
        )
        .build()
}

/// True for a field or parameter that holds one of our ids (`client_id` is the client's
/// own idempotency key, not ours).
fn is_id(name: &str) -> bool {
    (name == "id" || name.ends_with("_id") || name.ends_with("_ids")) && name != "client_id"
}

fn describe_id_fields(o: &mut Object) {
    for (name, field) in o.properties.iter_mut() {
        if !is_id(name) {
            continue;
        }
        match field {
            RefOr::T(Schema::Object(f)) if f.description.is_none() => f.description = Some(ID.into()),
            RefOr::T(Schema::Array(a)) => {
                if let ArrayItems::RefOrSchema(item) = &mut a.items
                    && let RefOr::T(Schema::Object(f)) = item.as_mut()
                    && f.description.is_none()
                {
                    f.description = Some(ID.into());
                }
            }
            _ => {}
        }
    }
}

fn describe_id_parameter(p: &mut Parameter) {
    if is_id(&p.name) && p.description.is_none() {
        p.description = Some(ID.into());
    }
}
