//! Issue 9's "use the well-kept crate": the CSV import read by `csv` (Windows files, BOM,
//! quoted line breaks, the line of each error), import passwords hashed under the
//! two-at-a-time cap, media served by tower-http's `ServeFile` (ranges, 416,
//! conditional requests), compressed faces and JSON but never media, and the embedded
//! assets' ETag and 304.

mod common;

use common::*;
use reqwest::StatusCode;
use serde_json::Value;

async fn import(api: &Api, admin: &str, kind: &str, csv: &str, dry_run: bool) -> (StatusCode, Value) {
    let res = api
        .http
        .post(format!("{}/api/v1/import/{kind}?dry_run={dry_run}", api.base))
        .bearer_auth(admin)
        .header("content-type", "text/csv")
        .body(csv.to_string())
        .send()
        .await
        .unwrap();
    (res.status(), res.json().await.unwrap())
}

/// The display name of the user with this username, if there is one.
async fn display_name(api: &Api, admin: &str, username: &str) -> Option<String> {
    let (st, v) = api.get("/api/v1/users", admin).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let users = v["users"].as_array().or(v.as_array()).cloned().unwrap_or_default();
    users
        .iter()
        .find(|u| u["username"] == username)
        .map(|u| u["display_name"].as_str().unwrap().to_string())
}

// ---- 1. the CSV import ---------------------------------------------------------------

/// A file as a spreadsheet on Windows saves it: a BOM, `\r\n`, blank lines, a name with
/// a comma and one with a line break in quotes. Each wrong row is reported on the line it
/// starts on (counting the blank lines and the quoted break, which stays inside its
/// cell), and the file imports once it is fixed, with the names exactly as written.
#[tokio::test]
async fn a_windows_csv_reports_the_right_line_and_imports_as_written() {
    let server = TestServer::start().await;
    let api = server.api();
    let admin = api.login("admin", ADMIN_PASSWORD).await;
    let file = |break_: &str, role: &str| {
        format!(
            "\u{feff}role,display_name,username\r\n\
             student,\"Lee, Ann\",csv-ann\r\n\
             \r\n\
             student,\"Two{break_}Lines\",csv-two\r\n\
             ,,\r\n\
             {role},Bo,csv-bo\r\n\
             \r\n"
        )
    };
    let (st, v) = import(&api, &admin, "users", &file("\r\n", "wizard"), true).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let lines: Vec<&Value> = v["errors"].as_array().unwrap().iter().map(|e| &e["line"]).collect();
    assert_eq!(
        lines,
        [4, 7],
        "a break in a name (line 4), an unknown role (line 7): {v}"
    );
    assert!(
        v["errors"][0]["message"].as_str().unwrap().contains("display_name"),
        "{v}"
    );

    let (st, v) = import(&api, &admin, "users", &file(" ", "teacher"), false).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(
        (v["created"].as_u64(), v["errors"].as_array().map(Vec::len)),
        (Some(3), Some(0)),
        "{v}"
    );
    assert_eq!(display_name(&api, &admin, "csv-ann").await.as_deref(), Some("Lee, Ann"));
    assert_eq!(
        display_name(&api, &admin, "csv-two").await.as_deref(),
        Some("Two Lines")
    );
    assert_eq!(display_name(&api, &admin, "csv-bo").await.as_deref(), Some("Bo"));
}

/// A quote left open runs to the end of the file: the import refuses the file and names
/// the line where that record starts, instead of importing a swallowed tail.
#[tokio::test]
async fn an_open_quote_is_refused_with_its_line() {
    let server = TestServer::start().await;
    let api = server.api();
    let admin = api.login("admin", ADMIN_PASSWORD).await;
    let csv = "role,display_name,username\nstudent,Ann,csv-open-1\n\nstudent,\"Bo,csv-open-2\nstudent,Cy,csv-open-3\n";
    let (st, v) = import(&api, &admin, "users", csv, false).await;
    assert_eq!(
        (st, error_code(&v).as_str()),
        (StatusCode::BAD_REQUEST, "bad_csv"),
        "{v}"
    );
    assert!(v["error"]["message"].as_str().unwrap().starts_with("line 4:"), "{v}");
    assert_eq!(
        display_name(&api, &admin, "csv-open-1").await,
        None,
        "nothing was imported"
    );
}

// ---- 2. passwords in an import ---------------------------------------------------------

/// `n` guardians with passwords, usernames starting with `prefix`.
fn guardians_csv(prefix: &str, n: usize) -> String {
    let mut csv = String::from("role,display_name,username,password\n");
    for i in 0..n {
        csv.push_str(&format!("guardian,Parent {i},{prefix}{i},horse-battery-{i}\n"));
    }
    csv
}

/// An import's passwords are hashed side by side, but within argon2's cap of two at a
/// time, which they share with logins: an import alone uses both slots, and an import
/// beside a burst of logins never has a third hash running. (The peak is counted per
/// process: nextest runs each test in a process of its own.)
#[tokio::test]
async fn import_passwords_hash_two_at_a_time_and_share_the_cap_with_logins() {
    let server = TestServer::start().await;
    let api = server.api();
    let admin = api.login("admin", ADMIN_PASSWORD).await;
    let (st, v) = import(&api, &admin, "users", &guardians_csv("pw-a", 12), false).await;
    assert_eq!((st, v["created"].as_u64()), (StatusCode::OK, Some(12)), "{v}");
    assert_eq!(
        doorplate_server::crypto::argon2_peak(),
        2,
        "the import hashed on both slots at once"
    );

    let logins = futures_util::future::join_all((0..6).map(|i| {
        let api = api.clone();
        async move { api.login(&format!("pw-a{i}"), &format!("horse-battery-{i}")).await }
    }));
    let csv = guardians_csv("pw-b", 12);
    let ((st, v), tokens) = tokio::join!(import(&api, &admin, "users", &csv, false), logins);
    assert_eq!((st, v["created"].as_u64()), (StatusCode::OK, Some(12)), "{v}");
    assert_eq!(tokens.len(), 6, "the imported passwords sign in");
    assert_eq!(
        doorplate_server::crypto::argon2_peak(),
        2,
        "never more than two argon2 runs at once"
    );
    api.login("pw-b11", "horse-battery-11").await;
}
