//! The programme `bench --tasks N` runs with: the default programme plus N active tasks that
//! every generated order can move (order counts and spend, by category or not, over every kind
//! of period), the worst case for what task progress adds to ingestion.

use loyalty_core::Program;

/// Categories the generated orders use (a subset of the generator's).
const CATEGORIES: &[&str] = &["apparel", "beauty", "books", "digital", "food", "home"];

/// The default programme with `tasks` tasks. They start in 2000 so that the generated
/// orders, paid over the last months, all count.
pub fn with_tasks(tasks: usize) -> anyhow::Result<Program> {
    if tasks == 0 {
        return Ok(Program::default_program());
    }
    let mut toml = String::new();
    let periods = ["daily", "weekly", "monthly", "once"];
    for i in 0..tasks {
        let period = periods[i % periods.len()];
        let (kind, target) =
            if i % 2 == 0 { ("orders", 3 + (i as i64) * 2) } else { ("spend", 50_000 + (i as i64) * 10_000) };
        let category = match i % 3 {
            0 => String::new(),
            _ => format!(", category = \"{}\"", CATEGORIES[i % CATEGORIES.len()]),
        };
        toml.push_str(&format!(
            "[[tasks]]\nid = \"bench-{i}\"\nname = \"bench task {i}\"\ngoal = {{ kind = \"{kind}\", target = {target}{category} }}\n\
             period = \"{period}\"\nstarts_at = \"2000-01-01T00:00:00Z\"\nreward = {{ points = 10, growth = 1 }}\n\n"
        ));
    }
    Program::from_toml(&toml).map_err(|e| anyhow::anyhow!("the bench's task programme: {e}"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn twenty_tasks_make_a_valid_programme() {
        assert_eq!(super::with_tasks(20).unwrap().file.tasks.len(), 20);
    }
}
