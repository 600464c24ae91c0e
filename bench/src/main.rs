//! `ward-bench`: measures Ward against cedar-policy and regorus and writes
//! the report.
//!
//! ```text
//! ward-bench report [--quick] [--no-write]   measure, rewrite docs/performance.md (peers section) and docs/plots/
//! ward-bench scale [--quick] [--rules N,N…] [--dense-folders] [--phases]
//!                                            only the scaling and cold-compile tables, printed
//! ward-bench entities APP N [SEED]           print the generated Cedar JSON entities
//! ward-bench requests APP N [SEED] [COUNT]   print the generated requests (JSON lines)
//! ward-bench rego-inputs APP N [SEED] [COUNT] print the Rego inputs (JSON lines)
//! ward-bench service [--quick]               `ward serve` vs the regorus harness over HTTP (markdown table)
//! ward-bench rego-serve APP N SEED [ADDR]    the regorus-on-axum harness (until killed)
//! ward-bench load ADDR PATH TOKEN|- BODIES CLIENTS WARM_MS RUN_MS   the HTTP load client (JSON stats)
//! ```

use std::process::ExitCode;

use ward_bench::{App, Workload, report, service};

const USAGE: &str = "usage: ward-bench report [--quick] [--no-write]
       ward-bench scale [--quick] [--rules N,N…] [--dense-folders] [--phases]
       ward-bench entities|requests|rego-inputs APP N [SEED] [COUNT]
       ward-bench scale-files DIR RULES   (the scaling set's Ward sources and entities, to profile `ward check`)
       ward-bench service [--quick]
       ward-bench rego-serve APP N SEED [ADDR]
       ward-bench load ADDR PATH TOKEN|- BODIES CLIENTS WARM_MS RUN_MS
APP is gdrive, github or tinytodo";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ward-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &[String]) -> Result<(), String> {
    let Some(command) = args.first() else { return Err(USAGE.to_string()) };
    let rest = args.get(1..).unwrap_or_default();
    match command.as_str() {
        "report" => {
            let mut options = report::Options::default();
            for a in rest {
                match a.as_str() {
                    "--quick" => options.quick = true,
                    "--no-write" => options.write = false,
                    other => return Err(format!("unknown option `{other}`\n{USAGE}")),
                }
            }
            report::run(&options)
        }
        "scale" => {
            let mut options = report::Options { scaling_only: true, write: false, ..report::Options::default() };
            let mut args = rest.iter();
            while let Some(a) = args.next() {
                match a.as_str() {
                    "--quick" => options.quick = true,
                    "--dense-folders" => options.folders = ward_bench::scale::Folders::Dense,
                    "--phases" => options.phases = true,
                    "--rules" => {
                        let list = args.next().ok_or_else(|| format!("--rules needs a list\n{USAGE}"))?;
                        let counts = list
                            .split(',')
                            .map(|n| n.trim().replace('_', "").parse::<usize>())
                            .collect::<Result<Vec<usize>, _>>()
                            .map_err(|_| format!("`{list}` is not a list of numbers\n{USAGE}"))?;
                        options.counts = Some(counts);
                    }
                    other => return Err(format!("unknown option `{other}`\n{USAGE}")),
                }
            }
            report::run(&options)
        }
        "service" => match rest {
            [] => service::run(false),
            [q] if q == "--quick" => service::run(true),
            _ => Err(format!("unknown options {rest:?}\n{USAGE}")),
        },
        "rego-serve" => {
            let app = rest
                .first()
                .and_then(|a| App::from_name(a))
                .ok_or_else(|| format!("expected an application\n{USAGE}"))?;
            let number = |k: usize| -> Result<u64, String> {
                rest.get(k).ok_or_else(|| USAGE.to_string())?.parse().map_err(|e| format!("argument {k}: {e}"))
            };
            let listen = match rest.get(3) {
                Some(a) => a.parse().map_err(|e| format!("address `{a}`: {e}"))?,
                None => std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
            };
            service::rego_serve(app, number(1)? as usize, number(2)?, listen)
        }
        "load" => service::load_command(rest),
        "entities" | "requests" | "rego-inputs" => {
            let app = rest
                .first()
                .and_then(|a| App::from_name(a))
                .ok_or_else(|| format!("expected an application\n{USAGE}"))?;
            let number = |k: usize, default: u64| -> Result<u64, String> {
                rest.get(k).map_or(Ok(default), |s| s.parse().map_err(|_| format!("`{s}` is not a number\n{USAGE}")))
            };
            let n = number(1, 10)? as usize;
            let seed = number(2, 1)?;
            let count = number(3, 500)? as usize;
            let w = Workload::generate(app, n, seed, count);
            match command.as_str() {
                "entities" => println!("{}", w.entities_json()),
                "requests" => w.requests.iter().for_each(|r| println!("{}", r.json())),
                _ => w.rego_inputs.iter().for_each(|r| println!("{r}")),
            }
            Ok(())
        }
        "scale-files" => {
            let [dir, rules] = rest else { return Err(format!("expected a directory and a rule count\n{USAGE}")) };
            let rules: usize = rules.parse().map_err(|_| format!("`{rules}` is not a number\n{USAGE}"))?;
            let set = ward_bench::scale::ScaleSet::generate(rules, 1, 0);
            let dir = std::path::Path::new(dir);
            std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
            let write = |name: &str, text: &str| {
                std::fs::write(dir.join(name), text).map_err(|e| format!("{}: {e}", dir.join(name).display()))
            };
            for (name, text) in set.ward_files() {
                write(name, text)?;
            }
            write("entities.json", &set.entities_json().to_string())
        }
        "help" | "--help" | "-h" => {
            println!("{USAGE}");
            Ok(())
        }
        other => Err(format!("unknown command `{other}`\n{USAGE}")),
    }
}
