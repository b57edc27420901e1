//! Setting up a school of its own through the API: rooms, students with cards,
//! guardians, classes (by CSV import, as staff would), then doorplates paired with
//! their codes, guardian logins and conversations. Every name carries the run's prefix,
//! so nothing of anyone else's is touched.

use crate::client::Http;
use anyhow::{Context, Result};
use futures_util::{StreamExt, TryStreamExt};
use serde_json::{Value, json};
use std::fmt::Write;

pub const GUARDIAN_PASSWORD: &str = "loadpass1";

pub struct Plate {
    pub token: String,
}

pub struct Student {
    pub id: String,
    pub card: String,
    /// The class (and first room) this student belongs to.
    pub class: usize,
    /// The conversation with their guardian.
    pub conversation: String,
    pub guardian: usize,
}

pub struct Guardian {
    pub token: String,
}

pub struct School {
    pub run: String,
    pub room_names: Vec<String>,
    pub class_names: Vec<String>,
    pub plates: Vec<Plate>,
    pub students: Vec<Student>,
    pub guardians: Vec<Guardian>,
}

/// Items of a list, several at a time.
async fn each<T, R, F, Fut>(items: Vec<T>, at_once: usize, f: F) -> Result<Vec<R>>
where
    F: Fn(T) -> Fut,
    Fut: std::future::Future<Output = Result<R>>,
{
    futures_util::stream::iter(items.into_iter().map(f))
        .buffered(at_once)
        .try_collect()
        .await
}

pub async fn build(
    http: &Http,
    admin: String,
    run: &str,
    plates: usize,
    students: usize,
    guardians: usize,
) -> Result<School> {
    let plates = plates.max(1);
    let guardians = guardians.clamp(1, students.max(1));
    let room_names: Vec<String> = (0..plates).map(|k| format!("L{run} Room {k:04}")).collect();
    let class_names: Vec<String> = (0..plates).map(|k| format!("L{run} Class {k:04}")).collect();
    let su = |i: usize| format!("l{run}s{i:05}");
    let gu = |j: usize| format!("l{run}g{j:05}");
    let teacher = format!("l{run}t");

    let mut csv = String::from("name,kind\n");
    for r in &room_names {
        writeln!(csv, "{r},classroom")?;
    }
    http.csv("rooms", &admin, csv).await?;

    let mut csv = String::from("role,display_name,username,password,card_uid\n");
    writeln!(csv, "teacher,Load Teacher {run},{teacher},{GUARDIAN_PASSWORD},")?;
    for i in 0..students {
        writeln!(csv, "student,Student {i},{},,L{run}C{i}", su(i))?;
    }
    for j in 0..guardians {
        writeln!(csv, "guardian,Guardian {j},{},{GUARDIAN_PASSWORD},", gu(j))?;
    }
    http.csv("users", &admin, csv).await?;

    let mut csv = String::from("guardian_username,student_username\n");
    for i in 0..students {
        writeln!(csv, "{},{}", gu(i % guardians), su(i))?;
    }
    http.csv("guardianships", &admin, csv).await?;

    let class_of = |i: usize| i * plates / students.max(1);
    let mut csv = String::from("name,teacher_username,member_usernames\n");
    for (k, name) in class_names.iter().enumerate() {
        let members: Vec<String> = (0..students).filter(|i| class_of(*i) == k).map(su).collect();
        writeln!(csv, "{name},{teacher},{}", members.join(" "))?;
    }
    http.csv("groups", &admin, csv).await?;

    // Ids, by the run's prefix.
    let users = http
        .get(&format!("/api/v1/users?q=l{run}&limit=100000"), &admin)
        .await?;
    let id_of = |username: &str| -> Result<String> {
        users
            .as_array()
            .and_then(|a| a.iter().find(|u| u["username"] == username))
            .and_then(|u| u["id"].as_str())
            .map(str::to_string)
            .with_context(|| format!("user {username} after the import"))
    };
    let rooms = http.get("/api/v1/rooms", &admin).await?;
    let room_ids: Vec<String> = room_names
        .iter()
        .map(|n| {
            rooms
                .as_array()
                .and_then(|a| a.iter().find(|r| r["name"] == n.as_str()))
                .and_then(|r| r["id"].as_str())
                .map(str::to_string)
                .context("room id")
        })
        .collect::<Result<_>>()?;

    let admin_token = admin.as_str();
    let plate_list = each(room_ids, 16, |room_id| async move {
        let created = http
            .post(
                "/api/v1/doorplates",
                admin_token,
                &json!({"room_id": room_id, "name": format!("Door {room_id}")}),
            )
            .await?;
        let code = created["pairing_code"].as_str().context("pairing code")?.to_string();
        let paired = http
            .call(
                reqwest::Method::POST,
                "/api/v1/devices/pair",
                None,
                Some(&json!({"pairing_code": code})),
            )
            .await
            .map_err(|e| anyhow::anyhow!("pairing: {e}"))?;
        Ok(Plate {
            token: paired["device_token"].as_str().context("device token")?.to_string(),
        })
    })
    .await?;

    let guardian_list = each((0..guardians).collect(), 4, |j| {
        let username = gu(j);
        async move {
            Ok(Guardian {
                token: http.login(&username, GUARDIAN_PASSWORD).await?,
            })
        }
    })
    .await?;

    let ids: Vec<(usize, String)> = (0..students).map(|i| Ok((i, id_of(&su(i))?))).collect::<Result<_>>()?;
    let guardian_tokens: Vec<String> = guardian_list.iter().map(|g| g.token.clone()).collect();
    let student_list = each(ids, 64, |(i, id)| {
        let token = guardian_tokens[i % guardians].clone();
        async move {
            let conv: Value = http
                .post("/api/v1/conversations", &token, &json!({"peer_id": id}))
                .await?;
            Ok(Student {
                id,
                card: format!("L{run}C{i}"),
                class: class_of(i),
                conversation: conv["conversation"]["id"]
                    .as_str()
                    .context("conversation id")?
                    .to_string(),
                guardian: i % guardians,
            })
        }
    })
    .await?;

    Ok(School {
        run: run.to_string(),
        room_names,
        class_names,
        plates: plate_list,
        students: student_list,
        guardians: guardian_list,
    })
}
