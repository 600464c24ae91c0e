//! `ward build`, `ward keygen` and `ward token`.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use ward_runtime::bundle::{self, Bundle};

use crate::{USAGE, files};

/// Writes `bytes` to `path` through a temporary file and a rename, so that
/// a reader (a serving `ward serve`) never sees a half-written file.
fn write_atomically(path: &Path, bytes: &[u8], private: bool) -> std::io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    if private {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options.open(&tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    std::fs::rename(&tmp, path)
}

/// A signing key file (`ward keygen`'s PREFIX.key).
pub fn read_signing_key(path: &Path) -> Result<ward_runtime::bundle::ed25519_dalek::SigningKey, String> {
    std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read `{}`: {}", path.display(), files::describe(&e)))
        .and_then(|t| bundle::parse_signing_key(&t).map_err(|e| format!("`{}`: {e}", path.display())))
}

/// `ward build PATH… -o BUNDLE [--sign KEY]`.
pub fn build(paths: &[PathBuf], output: &Path, sign: Option<&Path>, settings: &crate::Settings) -> ExitCode {
    let key = match sign {
        None => None,
        Some(p) => match std::fs::read_to_string(p)
            .map_err(|e| e.to_string())
            .and_then(|t| bundle::parse_signing_key(&t).map_err(|e| e.to_string()))
        {
            Ok(k) => Some(k),
            Err(e) => {
                eprintln!("error: signing key `{}`: {e}", p.display());
                return ExitCode::from(USAGE);
            }
        },
    };
    let compiled = match crate::decide::compile(paths, settings) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let mut sources = Vec::new();
    for file in files::collect(paths).unwrap_or_default() {
        match std::fs::read(&file) {
            Ok(bytes) => sources.push((file.display().to_string(), bytes)),
            Err(e) => {
                eprintln!("error: cannot read `{}`: {}", file.display(), files::describe(&e));
                return ExitCode::from(USAGE);
            }
        }
    }
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64);
    let b = Bundle::new(compiled.program, &sources, now);
    let bytes = match b.to_bytes(key.as_ref()) {
        Ok(bytes) => bytes,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Err(e) = write_atomically(output, &bytes, false) {
        eprintln!("error: cannot write `{}`: {}", output.display(), files::describe(&e));
        return ExitCode::FAILURE;
    }
    let signed = match &key {
        Some(k) => format!(", signed by key {}", bundle::key_id(&k.verifying_key())),
        None => ", unsigned".to_string(),
    };
    println!(
        "wrote {} ({} files, {} bytes, {}{signed})",
        output.display(),
        sources.len(),
        bytes.len(),
        b.meta.source_hash
    );
    ExitCode::SUCCESS
}

/// `ward keygen -o PREFIX`: PREFIX.key (private, mode 0600) and PREFIX.pub.
pub fn keygen(prefix: &Path, force: bool) -> ExitCode {
    let with = |ext: &str| {
        let mut p = prefix.as_os_str().to_owned();
        p.push(ext);
        PathBuf::from(p)
    };
    let (secret, public) = (with(".key"), with(".pub"));
    for p in [&secret, &public] {
        if p.exists() && !force {
            eprintln!("error: `{}` exists; refusing to overwrite a key (say --force)", p.display());
            return ExitCode::from(USAGE);
        }
    }
    let key = match bundle::generate_key() {
        Ok(k) => k,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let written = write_atomically(&secret, bundle::signing_key_text(&key).as_bytes(), true)
        .and_then(|()| write_atomically(&public, bundle::verifying_key_text(&key.verifying_key()).as_bytes(), false));
    if let Err(e) = written {
        eprintln!("error: cannot write the key pair: {}", files::describe(&e));
        return ExitCode::FAILURE;
    }
    println!(
        "wrote {} (keep it secret) and {} (key id {})",
        secret.display(),
        public.display(),
        bundle::key_id(&key.verifying_key())
    );
    ExitCode::SUCCESS
}

/// `ward token --name NAME --scope S…`: a new client token and its configuration entry.
pub fn token(name: &str, scopes: &[String]) -> ExitCode {
    match ward_service::new_token(name, scopes) {
        Ok((token, entry)) => {
            eprintln!("# the token (give it to the client; only its hash goes into the configuration):");
            println!("{token}");
            eprintln!("# add to ward.toml:");
            eprint!("{entry}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(USAGE)
        }
    }
}
