//! A small demo school a newcomer can use at once (`doorplate demo`).

use crate::crypto::{hash_password_async, new_token};
use crate::school::HostedSchool;
use doorplate_domain::timetable::{PeriodKind, Slot};
use doorplate_domain::{Id, Role};
use doorplate_store::{NewUser, StoreError, User};

/// What the demo printed for people to try.
pub struct DemoSchool {
    /// (doorplate name, device token)
    pub doorplates: Vec<(String, String)>,
    /// (role, display name, username, password)
    pub logins: Vec<(String, String, String, String)>,
    /// (student name, class, card UID, QR badge secret, username, password)
    pub students: Vec<(String, String, String, String, String, String)>,
}

/// The demo accounts' password: easy to type on a kiosk keyboard.
pub const DEMO_PASSWORD: &str = "demo1234";

async fn user(
    app: &HostedSchool,
    role: Role,
    name: &str,
    username: &str,
    card: Option<&str>,
) -> Result<User, StoreError> {
    let hash = hash_password_async(DEMO_PASSWORD.into()).await;
    app.store
        .create_user(NewUser {
            role: Some(role),
            display_name: name.into(),
            username: Some(username.into()),
            password_hash: Some(hash),
            card_hash: card.map(|c| app.secrets.hash("card", c)),
            now: app.now(),
        })
        .await
}

/// Creates rooms with paired doorplates, two classes with their teachers, students with
/// cards and QR badges, and guardians — names in Chinese and English.
pub async fn seed(app: &HostedSchool) -> Result<DemoSchool, StoreError> {
    let mut school = DemoSchool {
        doorplates: vec![],
        logins: vec![],
        students: vec![],
    };
    let admin = user(app, Role::Admin, "教务处 Office", "admin", None).await?;
    school
        .logins
        .push(("admin".into(), admin.display_name, "admin".into(), DEMO_PASSWORD.into()));
    let wang = user(app, Role::Teacher, "王老师 Ms Wang", "wang", Some("T0000001")).await?;
    let li = user(app, Role::Teacher, "李老师 Mr Li", "li", Some("T0000002")).await?;
    for t in [&wang, &li] {
        school.logins.push((
            "teacher".into(),
            t.display_name.clone(),
            t.username.clone().unwrap_or_default(),
            DEMO_PASSWORD.into(),
        ));
    }
    let mut class_ids = Vec::new();
    let classes = [
        (
            "三年级一班 Class 3-1",
            &wang,
            [
                ("张小明 Zhang Xiaoming", "xiaoming"),
                ("刘思雨 Liu Siyu", "siyu"),
                ("陈浩 Chen Hao", "chenhao"),
            ],
        ),
        (
            "三年级二班 Class 3-2",
            &li,
            [
                ("赵一诺 Zhao Yinuo", "yinuo"),
                ("黄子轩 Huang Zixuan", "zixuan"),
                ("周悦 Zhou Yue", "zhouyue"),
            ],
        ),
    ];
    let mut n = 0;
    for (class, teacher, kids) in classes {
        let mut members = Vec::new();
        for (name, username) in kids {
            n += 1;
            let card = format!("04A1B2{n:02}");
            let student = user(app, Role::Student, name, username, Some(&card)).await?;
            let qr = new_token("dpq_");
            app.store.set_badge(student.id, app.secrets.hash("qr", &qr)).await?;
            let family = name.split(' ').nth(1).unwrap_or(name);
            let guardian_name = format!("{}家长 Parent of {family}", name.split(' ').next().unwrap_or(name));
            let g_username = format!("parent.{username}");
            let guardian = user(app, Role::Guardian, &guardian_name, &g_username, None).await?;
            app.store.add_guardianship(guardian.id, student.id).await?;
            school
                .logins
                .push(("guardian".into(), guardian_name, g_username, DEMO_PASSWORD.into()));
            school.students.push((
                name.into(),
                class.into(),
                card,
                qr,
                username.into(),
                DEMO_PASSWORD.into(),
            ));
            members.push(student.id);
        }
        let g = app.store.create_group(class.into(), members, Some(teacher.id)).await?;
        class_ids.push((g.id, teacher.id));
    }
    let mut rooms = Vec::new();
    for (room, kind) in [
        ("301 教室 Room 301", "classroom"),
        ("302 教室 Room 302", "classroom"),
        ("科学实验室 Science Lab", "lab"),
        ("三号宿舍 Dormitory 3", "dorm"),
    ] {
        let r = app.store.create_room(room.into(), kind.into()).await?;
        let code = crate::crypto::pairing_code();
        let now = app.now();
        let d = app
            .store
            .create_doorplate(
                r.id,
                format!("{room} 门牌"),
                app.secrets.hash("pairing", &code),
                now + 60_000_000,
                now,
            )
            .await?;
        let token = new_token("dpd_");
        app.store
            .pair_doorplate(
                app.secrets.hash("pairing", &code),
                app.secrets.hash("device", &token),
                now,
            )
            .await?;
        school.doorplates.push((d.name, token));
        rooms.push(r.id);
    }
    timetable(app, &rooms, &class_ids).await?;
    Ok(school)
}

/// A timetable that is running whenever the demo is: lessons every day from 07:00 to
/// 21:00 for each class in its classroom (science in the lab), and the dormitory night.
async fn timetable(app: &HostedSchool, rooms: &[Id], classes: &[(Id, Id)]) -> Result<(), StoreError> {
    let subjects = [
        "语文 Chinese",
        "数学 Maths",
        "英语 English",
        "科学 Science",
        "美术 Art",
        "体育 PE",
        "音乐 Music",
    ];
    let mut settings = app.store.settings().await?;
    settings.timezone = "Asia/Shanghai".into();
    app.store.save_settings(settings.clone()).await?;
    *app.settings.write().expect("settings poisoned") = settings;
    for weekday in 1..=7u8 {
        for (c, (group, teacher)) in classes.iter().enumerate() {
            for period in 0..14u32 {
                let start = 7 * 3600 + period * 3600;
                let title = subjects[(period as usize + c * 3 + weekday as usize) % subjects.len()];
                let (room, kind) = if title.starts_with("科学") {
                    (rooms[2], PeriodKind::Lesson)
                } else {
                    (rooms[c], PeriodKind::Lesson)
                };
                let slot = Slot {
                    id: 0,
                    room_id: room,
                    weekday,
                    start,
                    end: start + 50 * 60,
                    kind,
                    title: title.into(),
                    group_id: Some(*group),
                    teacher_id: Some(*teacher),
                    valid_from: None,
                    valid_until: None,
                };
                app.store.create_slot(slot).await?;
            }
            let night = Slot {
                id: 0,
                room_id: rooms[3],
                weekday,
                start: 21 * 3600,
                end: 7 * 3600,
                kind: PeriodKind::Dorm,
                title: "晚自习与就寝 Evening study and night".into(),
                group_id: Some(*group),
                teacher_id: Some(*teacher),
                valid_from: None,
                valid_until: None,
            };
            app.store.create_slot(night).await?;
        }
    }
    Ok(())
}
