//! The binary as operators use it: imports, verify (and a tampered database), jobs, keys,
//! check-config, and a server killed with SIGKILL in the middle of ingestion.

mod common;
use common::*;
use std::process::{Command, Stdio};

fn loyalty(url: &str, args: &[&str]) -> (i32, String, String) {
    loyalty_bin(url, args)
}

fn write(dir: &tempfile::TempDir, name: &str, text: &str) -> String {
    let p = dir.path().join(name);
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}

#[tokio::test]
async fn imports_report_rejected_rows_by_line_skip_what_exists_and_verify_clean() {
    let (_db, url) = TestDb::fresh().await;
    let dir = tempfile::tempdir().unwrap();
    let members =
        write(&dir, "members.csv", "member_id,name,birthday\nm1,Ann,1990-01-02\nm 2,Bad,\nm3,Cy,1990-02-31\n");
    let (code, out, err) = loyalty(&url, &["import", "members", &members]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("rows 3 · accepted 1 · skipped (already present) 0 · rejected 2"), "{out}");
    let rejects = std::fs::read_to_string(format!("{members}.rejects.csv")).unwrap().replace('"', "");
    assert!(rejects.contains("3,member_id:") && rejects.contains("4,birthday:"), "{rejects}");
    // Each with the row as it is in the file, the third column.
    let mut rdr = csv::Reader::from_path(format!("{members}.rejects.csv")).unwrap();
    assert_eq!(rdr.headers().unwrap(), vec!["line", "reason", "row"]);
    let rows: Vec<String> = rdr.records().map(|r| r.unwrap()[2].to_owned()).collect();
    assert_eq!(rows, ["m 2,Bad,", "m3,Cy,1990-02-31"]);

    let orders = write(
        &dir,
        "orders.csv",
        "order_id,member_id,paid_at,amount_minor,shipping_minor\n\
         o1,m1,2026-01-05T10:00:00+08:00,12345,500\n\
         o2,m9,2026-02-05T10:00:00+08:00,20000,\n\
         o3,m1,not-a-date,100,\n\
         o4,m1,2026-03-05T10:00:00+08:00,-5,\n\
         o1,m1,2026-01-05T10:00:00+08:00,99999,500\n\
         o5,m1,2026-03-05T10:00:00+08:00,abc,\n",
    );
    let (code, out, _) = loyalty(&url, &["import", "orders", &orders]);
    assert_eq!(code, 0);
    assert!(out.contains("rows 6 · accepted 2 · skipped (already present) 0 · rejected 4"), "{out}");
    let rejects = std::fs::read_to_string(format!("{orders}.rejects.csv")).unwrap().replace('"', "");
    for needle in
        ["4,paid_at", "5,amount_minor: -5 must not be negative", "6,order o1 already exists", "7,amount_minor"]
    {
        assert!(rejects.contains(needle), "{needle} in {rejects}");
    }
    assert!(rejects.contains(",o1,m1,2026-01-05T10:00:00+08:00,99999,500"), "the refused row itself: {rejects}");
    let (_, out, _) = loyalty(&url, &["import", "orders", &orders]);
    assert!(
        out.contains("accepted 0 · skipped (already present) 2 · rejected 4"),
        "a re-run skips what is there: {out}"
    );

    let refunds = write(&dir, "refunds.csv", "refund_id,order_id,refunded_at,amount_minor\nr1,o1,2026-01-09T10:00:00+08:00,12345\nr2,o1,2026-01-09T10:00:00+08:00,1000\nr1,nope,2026-01-09T10:00:00+08:00,1\n");
    let (_, out, _) = loyalty(&url, &["import", "refunds", &refunds]);
    assert!(out.contains("rows 3 · accepted 1 · skipped (already present) 0 · rejected 2"), "{out}");

    let store = loyalty_store::open(&url).await.unwrap();
    let m9 = store
        .member(&loyalty_core::ids::MemberId::parse("m9").unwrap(), jiff::Timestamp::UNIX_EPOCH)
        .await
        .unwrap()
        .expect("the import created m9");
    assert_eq!(m9.account.buckets().active, loyalty_core::Points::new(200));
    let o1 = store.order(&loyalty_core::ids::OrderId::parse("o1").unwrap()).await.unwrap().unwrap().0;
    // m1 was born in January and o1 was paid in January: the birthday month doubles points.
    assert_eq!((o1.earned_points.get(), o1.clawed_back_points.get()), (246, 246));
    let (code, out, _) = loyalty(&url, &["verify"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("verify: OK"), "{out}");
}

#[tokio::test]
async fn verify_catches_a_tampered_database_and_names_the_member() {
    let (_db, url) = TestDb::fresh().await;
    let dir = tempfile::tempdir().unwrap();
    let orders = write(&dir, "o.csv", "order_id,member_id,paid_at,amount_minor\na,vic,2026-01-05T10:00:00+08:00,50000\nb,wes,2026-01-05T10:00:00+08:00,50000\n");
    loyalty(&url, &["import", "orders", &orders]);
    assert_eq!(loyalty(&url, &["verify"]).0, 0);
    let store = loyalty_store::open(&url).await.unwrap();
    store.execute_raw("UPDATE members SET active = active + 5 WHERE member_id = 'wes'").await.unwrap();
    let (code, out, _) = loyalty(&url, &["verify"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("member wes") && !out.contains("member vic"), "{out}");
    store.execute_raw("UPDATE members SET active = active - 5 WHERE member_id = 'wes'").await.unwrap();
    store.execute_raw("UPDATE entries SET points = 7 WHERE member_id = 'vic' AND seq = 2").await.unwrap();
    let (code, out, _) = loyalty(&url, &["verify"]);
    assert_eq!(code, 1);
    assert!(out.contains("member vic entry #2"), "{out}");
}

#[tokio::test]
async fn jobs_run_now_activates_and_expires_for_the_given_instant() {
    let (_db, url) = TestDb::fresh().await;
    let dir = tempfile::tempdir().unwrap();
    let program = write(&dir, "p.toml", "pending_days = 7\n[expiry]\npolicy = \"rolling\"\ndays = 10\n");
    let now = jiff::Timestamp::now();
    let paid = now.checked_sub(jiff::SignedDuration::from_hours(24)).unwrap();
    let orders = write(&dir, "o.csv", &format!("order_id,member_id,paid_at,amount_minor\na,zed,{paid},30000\n"));
    loyalty(&url, &["import", "orders", &orders, "--program", &program]);
    let in_7_days = now.checked_add(jiff::SignedDuration::from_hours(24 * 7)).unwrap().to_string();
    let (code, out, _) = loyalty(&url, &["jobs", "run", "--now", &in_7_days, "--program", &program]);
    assert_eq!(code, 0);
    assert!(out.contains("1 members advanced, 1 ledger entries written"), "{out}");
    let in_20_days = now.checked_add(jiff::SignedDuration::from_hours(24 * 20)).unwrap().to_string();
    let (_, out, _) = loyalty(&url, &["jobs", "run", "--now", &in_20_days, "--program", &program]);
    assert!(out.contains("1 ledger entries written"), "the lot expired: {out}");
    let (code, _, err) = loyalty(&url, &["jobs", "run", "--now", "tomorrow"]);
    assert_ne!(code, 0);
    assert!(err.contains("--now"), "{err}");
    assert_eq!(loyalty(&url, &["verify"]).0, 0);
}

#[tokio::test]
async fn check_config_names_the_field_and_keys_are_shown_once() {
    let (_db, url) = TestDb::fresh().await;
    let dir = tempfile::tempdir().unwrap();
    let bad = write(&dir, "bad.toml", "timezone = \"Asia/Nowhere\"\n[redemption]\nmax_share_percent = 120\n");
    let (code, _, err) = loyalty(&url, &["check-config", &bad]);
    assert_eq!(code, 1);
    assert!(err.contains("timezone") && err.contains("redemption.max_share_percent"), "{err}");
    let good = write(&dir, "good.toml", "pending_days = 0\n");
    assert_eq!(loyalty(&url, &["check-config", &good]).0, 0);
    let (code, key, _) = loyalty(&url, &["keys", "create", "--scope", "integration", "--name", "shop"]);
    assert_eq!(code, 0);
    let key = key.trim();
    assert!(key.starts_with("lk_") && key.len() > 60);
    let store = loyalty_store::open(&url).await.unwrap();
    assert_eq!(
        store.api_key(&loyalty_http::auth::hash_key(key)).await.unwrap(),
        Some(("shop".into(), "integration".into()))
    );
    assert_eq!(loyalty(&url, &["keys", "create", "--scope", "root", "--name", "x"]).0, 2);
}

/// Kills the server with SIGKILL while 16 clients post orders, restarts it, and checks that
/// every order it acknowledged is there and the ledger is sound.
#[tokio::test]
async fn a_sigkill_during_ingestion_loses_no_acknowledged_order() {
    let (_db, url) = TestDb::fresh().await;
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let listen = format!("127.0.0.1:{port}");
    let start = || {
        Command::new(env!("CARGO_BIN_EXE_loyalty"))
            .args(["serve", "--database-url", &url, "--listen", &listen])
            .env("LOYALTY_ADMIN_KEY", ADMIN)
            .env("LOYALTY_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    };
    let base = format!("http://{listen}");
    let client = reqwest::Client::new();
    let wait_up = || async {
        for _ in 0..100 {
            if client.get(format!("{base}/healthz")).send().await.is_ok() {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        panic!("server did not start");
    };
    let mut child = start();
    wait_up().await;
    for m in 0..16 {
        let r = client
            .put(format!("{base}/v1/members/k{m}"))
            .bearer_auth(ADMIN)
            .json(&serde_json::json!({}))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success());
    }
    let acked = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let mut workers = Vec::new();
    for w in 0..16 {
        let (client, base, acked) = (client.clone(), base.clone(), acked.clone());
        workers.push(tokio::spawn(async move {
            for i in 0.. {
                let id = format!("k{w}-{i}");
                let body = order(&id, &format!("k{w}"), 1_000 + i, 1);
                match client.post(format!("{base}/v1/orders")).bearer_auth(ADMIN).json(&body).send().await {
                    Ok(r) if r.status() == 201 => acked.lock().unwrap().push(id),
                    _ => break,
                }
            }
        }));
    }
    // Kill it mid-load: once a few hundred orders are acknowledged, not after a set time.
    for _ in 0..6_000 {
        if acked.lock().unwrap().len() >= 300 {
            break;
        }
        tokio::task::yield_now().await;
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    for w in workers {
        w.await.unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() > 50, "the load ran: {}", acked.len());
    let mut child = start();
    wait_up().await;
    for id in &acked {
        let r = client.get(format!("{base}/v1/orders/{id}")).bearer_auth(ADMIN).send().await.unwrap();
        assert_eq!(r.status(), 200, "acknowledged order {id} survived");
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let (code, out, _) = loyalty(&url, &["verify"]);
    assert_eq!(code, 0, "{out}");
}
