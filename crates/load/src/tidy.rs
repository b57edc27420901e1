//! Tidying up what this run made that would keep acting: its timetable slots and its
//! notice. Rooms, people and classes stay (named `L<run>…`).

use crate::context::Run;
use serde_json::Value;

/// Deletes the slots in this run's rooms and the notice it posted; failures are
/// ignored (the figures are already taken).
pub async fn remove_slots_and_notice(run: &Run, notice: &Value) {
    let (http, admin, run_id) = (&run.http, &run.admin, &run.run_id);
    let slots = http.get("/api/v1/timetable", admin).await.unwrap_or(Value::Null);
    let rooms = http.get("/api/v1/rooms", admin).await.unwrap_or(Value::Null);
    let ours: Vec<String> = rooms
        .as_array()
        .into_iter()
        .flatten()
        .filter(|r| {
            r["name"]
                .as_str()
                .is_some_and(|n| n.starts_with(&format!("L{run_id} ")))
        })
        .filter_map(|r| r["id"].as_str().map(str::to_string))
        .collect();
    for s in slots
        .as_array()
        .into_iter()
        .flatten()
        .filter(|s| s["room_id"].as_str().is_some_and(|r| ours.iter().any(|o| o == r)))
    {
        let _ = http
            .call(
                reqwest::Method::DELETE,
                &format!("/api/v1/timetable/{}", s["id"].as_str().unwrap_or("")),
                Some(admin),
                None,
            )
            .await;
    }
    if let Some(id) = notice["notice"]["id"].as_str() {
        let _ = http
            .call(
                reqwest::Method::DELETE,
                &format!("/api/v1/notices/{id}"),
                Some(admin),
                None,
            )
            .await;
    }
}
