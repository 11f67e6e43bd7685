//! Just enough of the POSIX shell to read the README's walkthrough as a reader's shell would:
//! words with single and double quotes, backslash-newline continuations, `$VAR`, `${VAR}` and
//! `$(…)`, comments, `;`, newlines and pipes. What it does not know (redirections, `&&`,
//! back-quotes, …) it refuses with the line, so a README command it would misread fails the
//! test instead of being sent wrongly.

use std::iter::Peekable;
use std::str::CharIndices;

/// A piece of a word: text as written, or an expansion made when the command runs.
#[derive(Debug, Clone, PartialEq)]
pub enum Part {
    Lit(String),
    /// `$NAME` or `${NAME}`; `quoted` inside double quotes.
    Var {
        name: String,
        quoted: bool,
    },
    /// `$(script)`.
    Subst {
        script: String,
        quoted: bool,
    },
}

pub type Word = Vec<Part>;

/// One command line of a shell block.
#[derive(Debug)]
pub struct Command {
    /// The line of the Markdown file it starts on.
    pub line: usize,
    /// The command as written.
    pub text: String,
    /// The stages of its pipeline, each a list of words: `curl … | head -3` has two.
    pub stages: Vec<Vec<Word>>,
    /// The comments written since the command before, its own trailing comment included
    /// (without the `#`): what the README says about this command.
    pub comments: Vec<String>,
}

impl Command {
    /// The comments as one text, lines joined by spaces (a phrase may wrap).
    pub fn said(&self) -> String {
        self.comments.join(" ")
    }
}

/// The commands of `script`, a shell block whose first line is line `first_line` of its file.
pub fn parse(script: &str, first_line: usize) -> Vec<Command> {
    let mut p = Parser {
        script,
        chars: script.char_indices().peekable(),
        line: first_line,
        commands: Vec::new(),
        comments: Vec::new(),
        stages: Vec::new(),
        words: Vec::new(),
        word: None,
        start: None,
    };
    p.run();
    p.commands
}

struct Parser<'a> {
    script: &'a str,
    chars: Peekable<CharIndices<'a>>,
    line: usize,
    commands: Vec<Command>,
    comments: Vec<String>,
    stages: Vec<Vec<Word>>,
    words: Vec<Word>,
    word: Option<Word>,
    /// Where the command being read starts: byte offset and line.
    start: Option<(usize, usize)>,
}

impl Parser<'_> {
    fn refuse(&self, what: &str) -> ! {
        panic!(
            "README line {}: the walkthrough's shell reader does not know {what}; teach it or write the line plainly",
            self.line
        )
    }

    fn run(&mut self) {
        while let Some((at, c)) = self.chars.next() {
            if !c.is_whitespace() && c != '#' && self.start.is_none() {
                self.start = Some((at, self.line));
            }
            match c {
                ' ' | '\t' => self.end_word(),
                '\n' => {
                    self.end_command(at);
                    self.line += 1;
                }
                ';' => self.end_command(at),
                '|' => {
                    if matches!(self.chars.peek(), Some((_, '|'))) {
                        self.refuse("`||`");
                    }
                    self.end_stage();
                }
                '#' if self.word.is_none() => self.comment(),
                '\\' => match self.chars.next() {
                    Some((_, '\n')) => self.line += 1,
                    Some((_, c)) => self.lit(c),
                    None => self.refuse("a `\\` at the end of a block"),
                },
                '\'' => self.single_quoted(),
                '"' => self.double_quoted(),
                '$' => self.dollar(false),
                '`' => self.refuse("back-quotes (write `$(…)`)"),
                '&' | '<' | '>' | '(' | ')' | '{' | '}' => self.refuse(&format!("`{c}` outside quotes")),
                c => self.lit(c),
            }
        }
        self.end_command(self.script.len());
    }

    fn word(&mut self) -> &mut Word {
        self.word.get_or_insert_with(Vec::new)
    }

    fn lit(&mut self, c: char) {
        let word = self.word();
        match word.last_mut() {
            Some(Part::Lit(s)) => s.push(c),
            _ => word.push(Part::Lit(c.to_string())),
        }
    }

    fn end_word(&mut self) {
        if let Some(w) = self.word.take() {
            self.words.push(w);
        }
    }

    fn end_stage(&mut self) {
        self.end_word();
        if self.words.is_empty() {
            self.refuse("a pipe with nothing before it");
        }
        self.stages.push(std::mem::take(&mut self.words));
    }

    fn end_command(&mut self, end: usize) {
        self.end_word();
        if !self.words.is_empty() {
            self.stages.push(std::mem::take(&mut self.words));
        }
        if self.stages.is_empty() {
            self.start = None;
            return;
        }
        let (start, line) = self.start.take().expect("a command has a start");
        let text = self.script[start..end].trim().to_owned();
        let stages = std::mem::take(&mut self.stages);
        let comments = std::mem::take(&mut self.comments);
        self.commands.push(Command { line, text, stages, comments });
    }

    /// A comment, to the end of the line (the newline still ends the command).
    fn comment(&mut self) {
        let mut text = String::new();
        while let Some((_, c)) = self.chars.next_if(|(_, c)| *c != '\n') {
            text.push(c);
        }
        self.comments.push(text.trim().to_owned());
    }

    fn single_quoted(&mut self) {
        self.word();
        loop {
            match self.chars.next() {
                Some((_, '\'')) => return,
                Some((_, c)) => {
                    if c == '\n' {
                        self.line += 1;
                    }
                    self.lit(c);
                }
                None => self.refuse("a single quote that is never closed"),
            }
        }
    }

    fn double_quoted(&mut self) {
        self.word();
        loop {
            match self.chars.next() {
                Some((_, '"')) => return,
                Some((_, '\\')) => match self.chars.next() {
                    Some((_, '\n')) => self.line += 1,
                    Some((_, c @ ('$' | '`' | '"' | '\\'))) => self.lit(c),
                    Some((_, c)) => {
                        self.lit('\\');
                        self.lit(c);
                    }
                    None => self.refuse("a double quote that is never closed"),
                },
                Some((_, '$')) => self.dollar(true),
                Some((_, '`')) => self.refuse("back-quotes (write `$(…)`)"),
                Some((_, c)) => {
                    if c == '\n' {
                        self.line += 1;
                    }
                    self.lit(c);
                }
                None => self.refuse("a double quote that is never closed"),
            }
        }
    }

    /// After a `$`: a variable, a command substitution, or a plain `$`.
    fn dollar(&mut self, quoted: bool) {
        let part = match self.chars.peek().map(|(_, c)| *c) {
            Some('{') => {
                self.chars.next();
                let name = self.take_until('}');
                Part::Var { name, quoted }
            }
            Some('(') => {
                self.chars.next();
                let script = self.take_until(')');
                Part::Subst { script, quoted }
            }
            Some(c) if c == '_' || c.is_ascii_alphabetic() => {
                let mut name = String::new();
                while let Some((_, c)) = self.chars.next_if(|(_, c)| *c == '_' || c.is_ascii_alphanumeric()) {
                    name.push(c);
                }
                Part::Var { name, quoted }
            }
            _ => return self.lit('$'),
        };
        self.word().push(part);
    }

    /// The text up to `end` on this line (no nesting: the walkthrough needs none).
    fn take_until(&mut self, end: char) -> String {
        let mut text = String::new();
        loop {
            match self.chars.next() {
                Some((_, c)) if c == end => return text,
                Some((_, '\n')) | None => {
                    self.refuse(&format!("an expansion that does not end with `{end}` on its line"))
                }
                Some((_, c)) => text.push(c),
            }
        }
    }
}

/// The word's text once expanded: `var` gives a variable's value, `subst` a substitution's
/// output. An unquoted expansion holding white space would be split into several words, which
/// this reader does not do, so it is refused.
pub fn expand(word: &Word, var: impl Fn(&str) -> String, subst: impl Fn(&str) -> String) -> String {
    let mut out = String::new();
    for part in word {
        let (value, quoted) = match part {
            Part::Lit(s) => (s.clone(), true),
            Part::Var { name, quoted } => (var(name), *quoted),
            Part::Subst { script, quoted } => (subst(script).trim_end_matches('\n').to_owned(), *quoted),
        };
        assert!(quoted || !value.contains(char::is_whitespace), "an unquoted expansion to {value:?} would be split");
        out.push_str(&value);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(c: &Command, stage: usize) -> Vec<String> {
        c.stages[stage].iter().map(|w| expand(w, |v| format!("<{v}>"), |s| format!("[{s}]"))).collect()
    }

    #[test]
    fn quotes_continuations_comments_and_pipes_read_as_a_shell_reads_them() {
        let script = "# first\nA='x y'; B=z\ncurl -s \"$U/a?b=1\" -H \"$K\" \\\n  -d '{\"a\":\n 1}'   # trailing\n\
                      # second\ncurl -s $U/c | head -3\nx \"a\\\"b\" 'it'\"s\" pre\"$(date -u +%F)\"post\n";
        let cs = parse(script, 10);
        assert_eq!(cs.len(), 5);
        assert_eq!((cs[0].line, words(&cs[0], 0)), (11, vec!["A=x y".to_owned()]));
        assert_eq!(cs[0].comments, ["first"]);
        assert_eq!(words(&cs[1], 0), ["B=z"]);
        assert!(cs[1].comments.is_empty());
        assert_eq!(cs[2].line, 12);
        assert_eq!(words(&cs[2], 0), ["curl", "-s", "<U>/a?b=1", "-H", "<K>", "-d", "{\"a\":\n 1}"]);
        assert_eq!(cs[2].comments, ["trailing"]);
        assert_eq!((cs[3].line, cs[3].said()), (16, "second".to_owned()));
        assert_eq!(
            (words(&cs[3], 0), words(&cs[3], 1)),
            (vec!["curl".into(), "-s".into(), "<U>/c".into()], vec!["head".into(), "-3".into()])
        );
        assert_eq!(words(&cs[4], 0), ["x", "a\"b", "its", "pre[date -u +%F]post"]);
    }

    #[test]
    #[should_panic(expected = "does not know")]
    fn what_it_does_not_know_it_refuses() {
        parse("curl $U > out.json\n", 1);
    }
}
