//! The timetable that moves the school: one slot per class that places it in its room a
//! few seconds from now and, unless `--no-rollover`, a second that moves every class to
//! the next room once the messaging is over. Placement and rollover are timed from the
//! slot's boundary until the doorplates saw every arrival and departure.

use crate::context::Run;
use crate::events::wait_moves;
use crate::setup::School;
use anyhow::{Result, bail};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// The boundaries of the slots this run posted.
pub struct Boundaries {
    /// The first slot begins: every class goes to its room.
    pub placement: jiff::Timestamp,
    /// The first slot ends and the second begins: every class moves on.
    pub rollover: jiff::Timestamp,
}

/// Local weekday and "HH:MM:SS" of an instant in the school's zone.
fn local(ts: jiff::Timestamp, tz: &jiff::tz::TimeZone) -> (i8, String) {
    let z = ts.to_zoned_datetime(tz.clone());
    (
        z.weekday().to_monday_one_offset(),
        format!("{:02}:{:02}:{:02}", z.hour(), z.minute(), z.second()),
    )
}

/// Without a rollover the first slot lasts this much longer: a saturated open loop goes
/// on sending what it owes after `--duration` (at twice its capacity, as long again), and
/// those messages must still find their students in a room, or they owe no hint and the
/// run measures something cheaper than it says.
const NO_ROLLOVER_MARGIN_SECONDS: i64 = 3600;

/// Imports the slots: placement in 4 s, the rollover when the messaging is over (the
/// placement's window, the messaging and 2 s later; with `--no-rollover` the first slot
/// runs on for an hour more instead).
pub async fn post_slots(run: &Run, tz: &jiff::tz::TimeZone) -> Result<Boundaries> {
    let school: &School = &run.school;
    let now = jiff::Timestamp::now();
    let t0 = jiff::Timestamp::from_second(now.as_second() + 4)?;
    let window = run.args.placement_window as i64;
    let margin = if run.args.no_rollover {
        NO_ROLLOVER_MARGIN_SECONDS
    } else {
        0
    };
    let t1 = jiff::Timestamp::from_second(t0.as_second() + window + run.args.duration as i64 + 2 + margin)?;
    let t2 = jiff::Timestamp::from_second(t1.as_second() + 60)?;
    let n = school.room_names.len();
    let mut csv = String::from("room,weekday,start,end,kind,title,group,teacher_username,valid_from,valid_until\n");
    let (wd0, s0) = local(t0, tz);
    let (_, e0) = local(t1, tz);
    let (_, e1) = local(t2, tz);
    if e1 < s0 {
        bail!("the run's slots ({s0} to {e1}) would cross midnight in the school's zone; start it after midnight");
    }
    for k in 0..n {
        use std::fmt::Write;
        writeln!(
            csv,
            "{},{wd0},{s0},{e0},lesson,Load A,{},,,",
            school.room_names[k], school.class_names[k]
        )?;
        if !run.args.no_rollover {
            writeln!(
                csv,
                "{},{wd0},{e0},{e1},lesson,Load B,{},,,",
                school.room_names[(k + 1) % n],
                school.class_names[k]
            )?;
        }
    }
    run.http.csv("timetable", &run.admin, csv).await?;
    Ok(Boundaries {
        placement: t0,
        rollover: t1,
    })
}

/// Sleeps until an instant of the wall clock (the server's timetable runs on it).
async fn wait_until(ts: jiff::Timestamp) {
    let d = ts.as_millisecond() - jiff::Timestamp::now().as_millisecond();
    tokio::time::sleep(Duration::from_millis(d.max(0) as u64)).await
}

/// Waits for the first slot to begin; returns the seconds until every student was
/// present.
pub async fn placement(run: &Run, b: &Boundaries) -> f64 {
    wait_until(b.placement).await;
    let boundary = Instant::now();
    let placement = wait_moves(
        &run.moves,
        run.args.students as u64,
        0,
        boundary,
        &run.stats,
        "placing every student",
    )
    .await;
    eprintln!(
        "\nplacement: {} students present in {:.3} s after the slot began",
        run.moves.joined.load(Ordering::Relaxed),
        placement
    );
    placement
}

/// Waits for the second slot to begin; returns the seconds until every student left
/// their room and arrived in the next (none with `--no-rollover`).
pub async fn rollover(run: &Run, b: &Boundaries) -> Option<f64> {
    if run.args.no_rollover {
        return None;
    }
    let (moves, stats, students) = (&run.moves, &run.stats, run.args.students as u64);
    let (j0, l0) = (moves.joined.load(Ordering::Relaxed), moves.left.load(Ordering::Relaxed));
    if jiff::Timestamp::now().as_millisecond() > b.rollover.as_millisecond() + 100 {
        eprintln!("\nthe messaging overran the rollover's boundary: no rollover figure for this run");
        stats.error("rollover_overrun");
    }
    wait_until(b.rollover).await;
    let t = Instant::now();
    let secs = wait_moves(moves, j0 + students, l0 + students, t, stats, "rollover").await;
    eprintln!(
        "\nrollover: {} students moved to their next room in {secs:.3} s",
        run.args.students
    );
    Some(secs)
}
