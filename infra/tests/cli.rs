//! The `infra` binary as an operator runs it: plan → deploy → plan (no change) → destroy, in
//! two regions of a real moto server, with secrets from the environment and from Secrets
//! Manager that must never be printed.

use std::process::Output;

use infra::testing::{create_role, delete_all_rules, moto, tiny_zip, unique};

const REGIONS: [&str; 2] = ["ap-south-1", "sa-east-1"];

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn infra(endpoint: &str, args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_infra"));
    cmd.args(args)
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("CHECKER_REGIONS", REGIONS.join(","))
        .env_remove("CHECKER_SHARDS")
        .env_remove("CHECKER_FUNCTION_ENV")
        .env_remove("CHECKER_FUNCTION_SECRETS");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let Output {
        status,
        stdout,
        stderr,
    } = cmd.output().expect("run the infra binary");
    let run = Run {
        code: status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    };
    eprintln!(
        "$ infra {} -> {}\n{}{}",
        args.join(" "),
        run.code,
        run.stdout,
        run.stderr
    );
    run
}

async fn clear_rules(endpoint: &str) {
    for region in REGIONS {
        let config = infra::aws_config(region, Some(endpoint)).await;
        delete_all_rules(&aws_sdk_eventbridge::Client::new(&config)).await;
    }
}

#[tokio::test]
async fn plan_deploy_and_destroy_through_the_cli() {
    let endpoint = moto().await;
    clear_rules(&endpoint).await;
    let role = create_role(&endpoint, &unique("sp-cli-role")).await;
    let function = unique("sp-cli-checker");
    let dir = std::env::temp_dir().join(unique("sp-cli"));
    std::fs::create_dir_all(&dir).unwrap();
    let zip = dir.join("bootstrap.zip");
    std::fs::write(&zip, tiny_zip(b"#!/bin/sh\necho v1\n")).unwrap();
    let zip = zip.to_str().unwrap().to_owned();

    // Per-region secrets in Secrets Manager, one secret in this process's environment.
    let env_secret = format!("env-secret-{}", unique("v"));
    for region in REGIONS {
        let config = infra::aws_config(region, Some(&endpoint)).await;
        aws_sdk_secretsmanager::Client::new(&config)
            .create_secret()
            .name(format!("{function}/{region}"))
            .secret_string(format!(r#"{{"checker":"sm-secret-{region}"}}"#))
            .send()
            .await
            .unwrap();
    }
    let secret_arg = format!(
        "CHECKER_SECRET=secretsmanager:{function}/{{region}}#checker,CLICKHOUSE_PASSWORD=env:SP_TEST_CH_PASSWORD"
    );
    let secrets_env = [
        ("CHECKER_FUNCTION_SECRETS", secret_arg.as_str()),
        ("SP_TEST_CH_PASSWORD", env_secret.as_str()),
    ];
    let base = [
        "--function-name",
        function.as_str(),
        "--zip",
        zip.as_str(),
        "--role-arn",
        role.as_str(),
        "--set-env",
        "CHECKER_API_URL=https://api.example.test",
    ];
    let with = |cmd: &str, extra: &[&'static str]| {
        let mut v = vec![cmd];
        v.extend_from_slice(&base[..2]);
        v.extend_from_slice(&base[2..]);
        v.extend_from_slice(extra);
        v.into_iter().map(str::to_owned).collect::<Vec<String>>()
    };
    let run = |args: Vec<String>| {
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        infra(&endpoint, &refs, &secrets_env)
    };
    let never_printed = |r: &Run| {
        for secret in [
            env_secret.as_str(),
            "sm-secret-ap-south-1",
            "sm-secret-sa-east-1",
        ] {
            assert!(
                !r.stdout.contains(secret) && !r.stderr.contains(secret),
                "a secret value was printed"
            );
        }
    };

    // 1. Plan on empty regions: everything would be created; exit 2; nothing made.
    let r = run(with("plan", &["--shards", "2"]));
    never_printed(&r);
    assert_eq!(r.code, 2, "a plan with changes exits 2");
    for region in REGIONS {
        assert!(
            r.stdout.contains(&format!(
                "{region}: function {function}: create (arm64, 256 MB, 110 s"
            )),
            "{}",
            r.stdout
        );
        assert!(r.stdout.contains(&format!(
            "{region}: rule statuspage-checker-1: create (shard 1 of 2)"
        )));
    }
    assert!(r
        .stdout
        .contains("environment CHECKER_API_URL CHECKER_SECRET CLICKHOUSE_PASSWORD"));
    let config = infra::aws_config(REGIONS[0], Some(&endpoint)).await;
    let lambda = aws_sdk_lambda::Client::new(&config);
    assert!(
        lambda
            .get_function()
            .function_name(&function)
            .send()
            .await
            .is_err(),
        "a plan must not create the function"
    );

    // 2. Deploy: function, permission, two rules per region.
    let r = run(with(
        "deploy",
        &["--shards", "2", "--reserved-concurrency", "5"],
    ));
    never_printed(&r);
    assert_eq!(r.code, 0);
    for region in REGIONS {
        let config = infra::aws_config(region, Some(&endpoint)).await;
        let lambda = aws_sdk_lambda::Client::new(&config);
        let events = aws_sdk_eventbridge::Client::new(&config);
        let cfg = lambda
            .get_function()
            .function_name(&function)
            .send()
            .await
            .unwrap()
            .configuration
            .unwrap();
        let vars = cfg.environment().unwrap().variables().unwrap();
        assert_eq!(vars["CHECKER_SECRET"], format!("sm-secret-{region}"));
        assert_eq!(vars["CLICKHOUSE_PASSWORD"], env_secret);
        assert_eq!(vars["CHECKER_API_URL"], "https://api.example.test");
        let reserved = lambda
            .get_function_concurrency()
            .function_name(&function)
            .send()
            .await
            .unwrap();
        assert_eq!(reserved.reserved_concurrent_executions(), Some(5));
        assert_eq!(infra::deployed_shards(&events).await.unwrap(), Some(2));
        let target = events
            .list_targets_by_rule()
            .rule("statuspage-checker-1")
            .send()
            .await
            .unwrap();
        let input: serde_json::Value =
            serde_json::from_str(target.targets()[0].input().unwrap()).unwrap();
        assert_eq!(
            input,
            serde_json::json!({"region": region, "shard": 1, "shards": 2})
        );
    }

    // 3. The same plan again: nothing to do, exit 0. Without --shards the deployed 2 are kept.
    let r = run(with("plan", &["--reserved-concurrency", "5"]));
    never_printed(&r);
    assert_eq!(r.code, 0, "{}", r.stdout);
    assert!(r.stdout.contains("no changes"), "{}", r.stdout);

    // 4. A changed setting and a changed secret: named, values hidden, exit 2.
    let r = infra(
        &endpoint,
        &with(
            "plan",
            &["--memory-mb", "512", "--reserved-concurrency", "5"],
        )
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>(),
        &[
            ("CHECKER_FUNCTION_SECRETS", secret_arg.as_str()),
            ("SP_TEST_CH_PASSWORD", "a-rotated-password"),
        ],
    );
    assert_eq!(r.code, 2);
    assert!(!r.stdout.contains("a-rotated-password") && !r.stderr.contains("a-rotated-password"));
    for region in REGIONS {
        assert!(
            r.stdout
                .contains(&format!("{region}: memory MB: 256 -> 512")),
            "{}",
            r.stdout
        );
        assert!(
            r.stdout.contains(&format!(
                "{region}: environment: ~CLICKHOUSE_PASSWORD (values not shown)"
            )),
            "{}",
            r.stdout
        );
    }

    // 5. A missing secret stops the deploy, naming the key, before any change.
    let r = infra(
        &endpoint,
        &with("deploy", &[])
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
        &[("CHECKER_FUNCTION_SECRETS", secret_arg.as_str())],
    );
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains("secret CLICKHOUSE_PASSWORD"),
        "{}",
        r.stderr
    );

    // 6. Destroy: a rule with our prefix that we did not make stays.
    let events = aws_sdk_eventbridge::Client::new(&config);
    events
        .put_rule()
        .name("statuspage-checker-handmade")
        .schedule_expression("rate(5 minutes)")
        .send()
        .await
        .unwrap();
    let destroy = ["destroy", "--function-name", function.as_str()];
    let r = infra(&endpoint, &destroy, &[]);
    assert_eq!(r.code, 2, "without --yes destroy only lists");
    for region in REGIONS {
        assert!(r
            .stdout
            .contains(&format!("{region}: function {function}: would delete")));
        assert!(r.stdout.contains(&format!(
            "{region}: rule statuspage-checker-0: would delete"
        )));
    }
    assert!(lambda
        .get_function()
        .function_name(&function)
        .send()
        .await
        .is_ok());
    let mut yes = destroy.to_vec();
    yes.push("--yes");
    let r = infra(&endpoint, &yes, &[]);
    assert_eq!(r.code, 0);
    assert!(
        r.stderr
            .contains("statuspage-checker-handmade has no managed-by tag"),
        "{}",
        r.stderr
    );
    for region in REGIONS {
        let config = infra::aws_config(region, Some(&endpoint)).await;
        let lambda = aws_sdk_lambda::Client::new(&config);
        assert!(lambda
            .get_function()
            .function_name(&function)
            .send()
            .await
            .is_err());
        let left: Vec<String> = aws_sdk_eventbridge::Client::new(&config)
            .list_rules()
            .name_prefix(infra::RULE_PREFIX)
            .send()
            .await
            .unwrap()
            .rules()
            .iter()
            .filter_map(|r| r.name().map(str::to_owned))
            .collect();
        let expected: &[&str] = if region == REGIONS[0] {
            &["statuspage-checker-handmade"]
        } else {
            &[]
        };
        assert_eq!(left, expected, "{region}");
    }
    // Nothing of ours is left: a second destroy has nothing to list.
    let r = infra(&endpoint, &destroy, &[]);
    assert_eq!(r.code, 0, "{}", r.stdout);
    clear_rules(&endpoint).await;
    let _ = std::fs::remove_dir_all(&dir);
}
