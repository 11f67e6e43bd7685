//! Coupon templates, mall rewards and lotteries defined in the programme file: checked with the
//! programme (errors by key), created at start, left alone at later starts when only what
//! operations may patch differs, and refusing to start when their terms changed.

mod common;
use common::*;
use loyalty_core::Program;
use reqwest::StatusCode;
use serde_json::json;

const DEFINED: &str = r#"
[[coupon_templates]]
id = "welcome-10"
name = "新人满100减10"
benefit = { kind = "amount_off", value_minor = 1000, threshold_minor = 10000 }
validity = { relative = { days = 30, end_of_day = true } }
limits = { lifetime = 1 }

[[coupon_templates]]
id = "mall-5"
name = "¥5 券"
benefit = { kind = "amount_off", value_minor = 500 }
validity = { relative = { days = 30 } }
channels = ["points"]

[[rewards]]
id = "five-off"
name = "¥5 券 (200 积分)"
item = { kind = "coupon", template = "mall-5" }
price_points = 200
stock = 50

[[rewards]]
id = "cup"
name = "保温杯"
item = { kind = "goods", sku = "CUP-1" }
price_points = 500
stock = 10

[[lotteries]]
id = "daily-spin"
name = "每日转盘"
cost_points = 0
free_draws_per_day = 1
max_draws_per_day = 1
fallback = "thanks"
[[lotteries.prizes]]
id = "coupon"
name = "¥5 券"
weight = 1
item = { kind = "coupon", template = "mall-5" }
[[lotteries.prizes]]
id = "cup"
name = "保温杯"
weight = 1
stock = 1
item = { kind = "goods", reward = "cup" }
[[lotteries.prizes]]
id = "thanks"
name = "谢谢参与"
weight = 8
item = { kind = "nothing" }
"#;

fn fields(text: &str) -> Vec<String> {
    match Program::from_toml(text) {
        Ok(_) => Vec::new(),
        Err(e) => e.0.into_iter().map(|i| i.field).collect(),
    }
}

#[test]
fn the_programme_checks_its_definitions_by_key() {
    assert_eq!(fields(DEFINED), Vec::<String>::new(), "the file above is valid");
    // A percent over 100, and the same id twice.
    let bad = r#"
        [[coupon_templates]]
        id = "x"
        name = "x"
        benefit = { kind = "percent_off", percent_off = 120 }
        validity = { relative = { days = 1 } }
        [[coupon_templates]]
        id = "x"
        name = "x again"
        benefit = { kind = "amount_off", value_minor = 100 }
        validity = { relative = { days = 1 } }
    "#;
    let f = fields(bad);
    assert!(f.iter().any(|k| k.starts_with("coupon_templates[0].benefit")), "{f:?}");
    assert!(f.contains(&"coupon_templates[1].id".to_owned()), "{f:?}");
    // A reward of a template of the same file that cannot be had for points.
    let f = fields(&DEFINED.replace(r#"channels = ["points"]"#, r#"channels = ["claim"]"#));
    assert!(f.contains(&"rewards[0].item.template".to_owned()), "{f:?}");
    assert!(f.contains(&"lotteries[0].prizes[0].item.template".to_owned()), "{f:?}");
    // A goods prize naming a reward of the file that is not goods.
    let f = fields(&DEFINED.replace(r#"reward = "cup""#, r#"reward = "five-off""#));
    assert_eq!(f, vec!["lotteries[0].prizes[1].item.reward".to_owned()]);
    // An unknown key names its place.
    let err = Program::from_toml("[[rewards]]\nid = \"r\"\nprice = 1\n").unwrap_err().to_string();
    assert!(err.contains("rewards"), "{err}");
}

#[tokio::test]
async fn definitions_are_created_at_start_and_members_obtain_from_them() {
    let app = spawn_app_with(DEFINED).await;
    for path in
        ["/v1/coupon-templates/welcome-10", "/v1/rewards/five-off", "/v1/rewards/cup", "/v1/lotteries/daily-spin"]
    {
        let (status, body) = app.get(path).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
    }
    let (_, spin) = app.get("/v1/lotteries/daily-spin").await;
    assert_eq!(spin["prizes"].as_array().unwrap().len(), 3);
    app.member("ann").await;
    let (status, body) = app
        .post("/v1/members/ann/coupons", json!({"template": "welcome-10", "source": "claim", "id": "ann-welcome"}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = app
        .post("/v1/members/ann/coupons", json!({"template": "welcome-10", "source": "claim", "id": "ann-welcome-2"}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "lifetime 1 from the file binds: {body}");
    let (status, body) =
        app.post("/v1/members/ann/points/adjustments", json!({"id": "g", "points": 1000, "reason": "gift"})).await;
    assert!(status.is_success(), "{body}");
    let (status, body) = app.post("/v1/members/ann/redemptions", json!({"id": "ann-r1", "reward": "five-off"})).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = app.post("/v1/lotteries/daily-spin/draws", json!({"id": "d1", "member_id": "ann"})).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    app.assert_verified().await;
}

#[tokio::test]
async fn a_later_start_keeps_what_operations_patched_and_refuses_changed_terms() {
    let app = spawn_app_with(DEFINED).await;
    let (status, body) =
        app.patch("/v1/coupon-templates/welcome-10", json!({"name": "改名", "status": "paused"})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = app.patch("/v1/rewards/cup", json!({"stock": 3})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, before) = app.get("/v1/lotteries/daily-spin").await;

    // The same file again (a restart): nothing is created, nothing patched is undone.
    let now = jiff::Timestamp::now();
    let program = Program::from_toml(DEFINED).unwrap();
    loyalty::app::apply_program_definitions(app.store.as_ref(), &program, now).await.expect("same terms start");
    let (_, t) = app.get("/v1/coupon-templates/welcome-10").await;
    assert_eq!((t["terms"]["name"].as_str(), t["status"].as_str()), (Some("改名"), Some("paused")));
    let (_, r) = app.get("/v1/rewards/cup").await;
    assert_eq!(r["terms"]["stock"], 3);
    let (_, after) = app.get("/v1/lotteries/daily-spin").await;
    assert_eq!(before["secret_sha256"], after["secret_sha256"], "the lottery keeps its secret");

    // Changed terms under the same id stop the start, naming the entry and the field.
    let changed = Program::from_toml(&DEFINED.replace("value_minor = 1000", "value_minor = 2000")).unwrap();
    let err = loyalty::app::apply_program_definitions(app.store.as_ref(), &changed, now).await.unwrap_err();
    let msg = format!("{err:#}");
    assert!(msg.contains("coupon_templates[0]") && msg.contains("benefit"), "{msg}");

    // A reference to a template that is neither in the file nor in the database.
    let dangling = Program::from_toml(
        r#"
        [[rewards]]
        id = "ghost"
        name = "ghost"
        item = { kind = "coupon", template = "nowhere" }
        price_points = 1
        "#,
    )
    .unwrap();
    let err = loyalty::app::apply_program_definitions(app.store.as_ref(), &dangling, now).await.unwrap_err();
    let msg = format!("{err:#}");
    assert!(msg.contains("rewards[0].item.template") && msg.contains("does not exist"), "{msg}");
    let (status, _) = app.get("/v1/rewards/ghost").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "nothing of a refused definition is written");
}
