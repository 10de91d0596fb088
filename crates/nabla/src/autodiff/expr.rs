//! Formulas such as `x*y + max(z, w)`, parsed by hand (recursive descent) and evaluated into
//! a graph of [`Value`]s that can be differentiated.
//!
//! The grammar, loosest binding first:
//!
//! ```text
//! expr    := term (('+' | '-') term)*
//! term    := unary (('*' | '·' | '/') unary)*
//! unary   := '-' unary | power
//! power   := primary (('^' | '**') unary)?          right-associative: 2^3^2 = 2^9
//! primary := NUMBER | NAME | NAME '(' expr (',' expr)* ')' | '(' expr ')'
//! ```
//!
//! so `-x^2` is `-(x^2)` as in maths. Functions: `exp`, `log` (also `ln`), `tanh`, `sin`,
//! `cos`, `sigmoid`, `relu`, `sqrt`, `max`, `min`, `pow`. Every error names the column it found, and
//! its message shows the formula with a caret under that column.

use std::fmt;

use super::Value;
use crate::limits::{MAX_FORMULA_NESTING, MAX_FORMULA_TOKENS};

/// The functions a formula may call, with their number of arguments.
pub const FUNCTIONS: [(&str, usize); 12] = [
    ("exp", 1),
    ("log", 1),
    ("ln", 1),
    ("tanh", 1),
    ("sin", 1),
    ("cos", 1),
    ("sigmoid", 1),
    ("relu", 1),
    ("sqrt", 1),
    ("max", 2),
    ("min", 2),
    ("pow", 2),
];

/// A formula that could not be parsed or evaluated, with the column (1-based, in characters)
/// where the problem is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExprError {
    /// The formula as given.
    pub expression: String,
    /// 1-based column of the offending character (one past the end for "unexpected end").
    pub column: usize,
    /// What is wrong there.
    pub message: String,
}

/// `column 7: expected `)` …` followed by the formula and a caret under column 7.
impl fmt::Display for ExprError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "column {}: {}\n    {}\n    {}^",
            self.column,
            self.message,
            self.expression,
            " ".repeat(self.column - 1)
        )
    }
}

impl std::error::Error for ExprError {}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Token {
    Number(f64),
    Name,
    Plus,
    Minus,
    Star,
    Slash,
    Caret,
    Comma,
    Open,
    Close,
    End,
}

impl Token {
    fn describe(self) -> &'static str {
        match self {
            Token::Number(_) => "a number",
            Token::Name => "a name",
            Token::Plus => "`+`",
            Token::Minus => "`-`",
            Token::Star => "`*`",
            Token::Slash => "`/`",
            Token::Caret => "`^`",
            Token::Comma => "`,`",
            Token::Open => "`(`",
            Token::Close => "`)`",
            Token::End => "the end of the formula",
        }
    }
}

/// A token with its text and its character range `[start, end)`.
#[derive(Debug, Clone)]
struct Lexeme {
    token: Token,
    text: String,
    start: usize,
}

fn tokenize(src: &str) -> Result<Vec<Lexeme>, ExprError> {
    let chars: Vec<char> = src.chars().collect();
    let err = |at: usize, message: String| ExprError { expression: src.to_string(), column: at + 1, message };
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let start = i;
        let single = match c {
            '+' => Some(Token::Plus),
            '-' | '−' => Some(Token::Minus),
            '·' | '×' => Some(Token::Star),
            '*' if chars.get(i + 1) == Some(&'*') => {
                i += 1;
                Some(Token::Caret)
            }
            '*' => Some(Token::Star),
            '/' => Some(Token::Slash),
            '^' => Some(Token::Caret),
            ',' => Some(Token::Comma),
            '(' => Some(Token::Open),
            ')' => Some(Token::Close),
            _ => None,
        };
        if let Some(token) = single {
            i += 1;
            out.push(Lexeme { token, text: chars[start..i].iter().collect(), start });
        } else if c.is_whitespace() {
            i += 1;
        } else if c.is_ascii_digit() || (c == '.' && chars.get(i + 1).is_some_and(char::is_ascii_digit)) {
            while i < chars.len() && (chars[i].is_ascii_digit() || chars[i] == '.') {
                i += 1;
            }
            // An exponent only when digits follow: `2e3`, `1.5e-4`.
            if matches!(chars.get(i), Some('e' | 'E')) {
                let sign = usize::from(matches!(chars.get(i + 1), Some('+' | '-')));
                if chars.get(i + 1 + sign).is_some_and(char::is_ascii_digit) {
                    i += 1 + sign;
                    while i < chars.len() && chars[i].is_ascii_digit() {
                        i += 1;
                    }
                }
            }
            let text: String = chars[start..i].iter().collect();
            let value = text.parse::<f64>().map_err(|_| err(start, format!("`{text}` is not a number")))?;
            out.push(Lexeme { token: Token::Number(value), text, start });
        } else if c.is_alphabetic() || c == '_' {
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            out.push(Lexeme { token: Token::Name, text: chars[start..i].iter().collect(), start });
        } else {
            return Err(err(start, format!("unexpected character `{c}`")));
        }
    }
    out.push(Lexeme { token: Token::End, text: String::new(), start: chars.len() });
    Ok(out)
}

/// The two-argument operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BinaryOp {
    Add,
    Sub,
    Mul,
    Div,
    Pow,
}

#[derive(Debug, Clone)]
enum Node {
    Number(f64),
    Variable(String),
    Neg(Box<Ast>),
    Binary(BinaryOp, Box<Ast>, Box<Ast>),
    Call(&'static str, Vec<Ast>),
}

/// A parsed formula node with the column where it starts (0-based, characters).
#[derive(Debug, Clone)]
struct Ast {
    node: Node,
    start: usize,
}

struct Parser<'a> {
    src: &'a str,
    tokens: Vec<Lexeme>,
    pos: usize,
    /// Levels of brackets, signs, powers and calls open at `pos`.
    depth: usize,
}

impl Parser<'_> {
    fn peek(&self) -> &Lexeme {
        &self.tokens[self.pos]
    }

    fn next(&mut self) -> Lexeme {
        let t = self.tokens[self.pos].clone();
        if t.token != Token::End {
            self.pos += 1;
        }
        t
    }

    fn error(&self, at: usize, message: String) -> ExprError {
        ExprError { expression: self.src.to_string(), column: at + 1, message }
    }

    fn found(&self) -> String {
        let t = self.peek();
        match t.token {
            Token::End => t.token.describe().to_string(),
            _ => format!("`{}`", t.text),
        }
    }

    fn expr(&mut self) -> Result<Ast, ExprError> {
        let mut left = self.term()?;
        loop {
            let op = match self.peek().token {
                Token::Plus => BinaryOp::Add,
                Token::Minus => BinaryOp::Sub,
                _ => return Ok(left),
            };
            self.next();
            let right = self.term()?;
            let start = left.start;
            left = Ast { node: Node::Binary(op, Box::new(left), Box::new(right)), start };
        }
    }

    fn term(&mut self) -> Result<Ast, ExprError> {
        let mut left = self.unary()?;
        loop {
            let op = match self.peek().token {
                Token::Star => BinaryOp::Mul,
                Token::Slash => BinaryOp::Div,
                _ => return Ok(left),
            };
            self.next();
            let right = self.unary()?;
            let start = left.start;
            left = Ast { node: Node::Binary(op, Box::new(left), Box::new(right)), start };
        }
    }

    /// Every nesting (a bracket, a sign, a power, a call's argument) passes through here once.
    fn unary(&mut self) -> Result<Ast, ExprError> {
        if self.depth >= MAX_FORMULA_NESTING {
            let msg = format!(
                "the formula nests deeper than {MAX_FORMULA_NESTING} levels of brackets, signs, powers and calls"
            );
            return Err(self.error(self.peek().start, msg));
        }
        self.depth += 1;
        let ast = self.unary_unlimited();
        self.depth -= 1;
        ast
    }

    fn unary_unlimited(&mut self) -> Result<Ast, ExprError> {
        if self.peek().token == Token::Minus {
            let start = self.next().start;
            let inner = self.unary()?;
            return Ok(Ast { node: Node::Neg(Box::new(inner)), start });
        }
        self.power()
    }

    fn power(&mut self) -> Result<Ast, ExprError> {
        let base = self.primary()?;
        if self.peek().token != Token::Caret {
            return Ok(base);
        }
        self.next();
        let exponent = self.unary()?;
        let start = base.start;
        Ok(Ast { node: Node::Binary(BinaryOp::Pow, Box::new(base), Box::new(exponent)), start })
    }

    fn primary(&mut self) -> Result<Ast, ExprError> {
        let t = self.peek().clone();
        match t.token {
            Token::Number(v) => {
                self.next();
                Ok(Ast { node: Node::Number(v), start: t.start })
            }
            Token::Name => {
                self.next();
                let function = FUNCTIONS.iter().find(|(name, _)| *name == t.text);
                if self.peek().token != Token::Open {
                    if function.is_some() {
                        return Err(self.error(t.start, format!("`{}` is a function: write {}(…)", t.text, t.text)));
                    }
                    return Ok(Ast { node: Node::Variable(t.text), start: t.start });
                }
                let Some(&(name, arity)) = function else {
                    let known: Vec<&str> = FUNCTIONS.iter().map(|(n, _)| *n).collect();
                    return Err(
                        self.error(t.start, format!("unknown function `{}` (known: {})", t.text, known.join(", ")))
                    );
                };
                let open = self.next().start;
                let mut args = vec![self.expr()?];
                while self.peek().token == Token::Comma {
                    self.next();
                    args.push(self.expr()?);
                }
                if self.peek().token != Token::Close {
                    let msg =
                        format!("expected `,` or `)` to close the `(` at column {}, found {}", open + 1, self.found());
                    return Err(self.error(self.peek().start, msg));
                }
                self.next();
                if args.len() != arity {
                    let plural = if arity == 1 { "" } else { "s" };
                    return Err(
                        self.error(t.start, format!("{name} takes {arity} argument{plural}, got {}", args.len()))
                    );
                }
                Ok(Ast { node: Node::Call(name, args), start: t.start })
            }
            Token::Open => {
                self.next();
                let inner = self.expr()?;
                if self.peek().token != Token::Close {
                    let msg =
                        format!("expected `)` to close the `(` at column {}, found {}", t.start + 1, self.found());
                    return Err(self.error(self.peek().start, msg));
                }
                self.next();
                Ok(inner)
            }
            _ => Err(self.error(t.start, format!("expected a number, a name or `(`, found {}", self.found()))),
        }
    }
}

/// A parsed formula, ready to be evaluated at given values of its variables.
#[derive(Debug, Clone)]
pub struct Expression {
    source: String,
    ast: Ast,
}

/// A formula evaluated into a graph: its output and one input [`Value`] per variable.
#[derive(Debug, Clone)]
pub struct Evaluation {
    /// The formula's value; call `output.backward()` for the gradients.
    pub output: Value,
    /// Each variable's input node, in the order the bindings were given.
    pub inputs: Vec<(String, Value)>,
}

/// Parses a formula.
pub fn parse(src: &str) -> Result<Expression, ExprError> {
    let tokens = tokenize(src)?;
    // The tree is at most as deep as the formula has tokens, and evaluating it recurses.
    if tokens.len() > MAX_FORMULA_TOKENS + 1 {
        let at = tokens[MAX_FORMULA_TOKENS].start;
        let msg = format!("a formula of more than {MAX_FORMULA_TOKENS} tokens (numbers, names, operators, brackets)");
        return Err(ExprError { expression: src.to_string(), column: at + 1, message: msg });
    }
    let mut parser = Parser { src, tokens, pos: 0, depth: 0 };
    let ast = parser.expr()?;
    if parser.peek().token != Token::End {
        let msg = format!("expected an operator or the end of the formula, found {}", parser.found());
        return Err(parser.error(parser.peek().start, msg));
    }
    Ok(Expression { source: src.to_string(), ast })
}

impl Expression {
    /// The formula as written.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The variable names in order of first appearance, each with its 1-based column.
    pub fn variables(&self) -> Vec<(String, usize)> {
        fn walk(ast: &Ast, out: &mut Vec<(String, usize)>) {
            match &ast.node {
                Node::Number(_) => {}
                Node::Variable(name) => {
                    if !out.iter().any(|(n, _)| n == name) {
                        out.push((name.clone(), ast.start + 1));
                    }
                }
                Node::Neg(inner) => walk(inner, out),
                Node::Binary(_, a, b) => {
                    walk(a, out);
                    walk(b, out);
                }
                Node::Call(_, args) => args.iter().for_each(|a| walk(a, out)),
            }
        }
        let mut out = Vec::new();
        walk(&self.ast, &mut out);
        out
    }

    /// Builds the graph at the given variable values. Every variable needs a value, every
    /// value a variable; a step whose result is not finite (`log(0)`, `1/0`, `(-8)^0.5`)
    /// is an error pointing at that step.
    pub fn evaluate(&self, bindings: &[(String, f64)]) -> Result<Evaluation, ExprError> {
        let err = |column: usize, message: String| ExprError { expression: self.source.clone(), column, message };
        let variables = self.variables();
        for (name, column) in &variables {
            if !bindings.iter().any(|(n, _)| n == name) {
                return Err(err(*column, format!("`{name}` has no value: add {name}=NUMBER")));
            }
        }
        for (name, _) in bindings {
            if !variables.iter().any(|(n, _)| n == name) {
                let end = self.source.chars().count() + 1;
                return Err(err(end, format!("`{name}` is given a value but the formula has no `{name}`")));
            }
        }
        let inputs: Vec<(String, Value)> =
            bindings.iter().map(|(name, v)| (name.clone(), Value::named(name.clone(), *v))).collect();
        let output = self.build(&self.ast, &inputs)?;
        Ok(Evaluation { output, inputs })
    }

    fn build(&self, ast: &Ast, inputs: &[(String, Value)]) -> Result<Value, ExprError> {
        let value = match &ast.node {
            Node::Number(v) => return Ok(Value::new(*v)),
            Node::Variable(name) => {
                let found = inputs.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone());
                // `evaluate` checked every variable has a value.
                return Ok(found.unwrap_or_else(|| Value::new(f64::NAN)));
            }
            Node::Neg(inner) => self.build(inner, inputs)?.neg(),
            Node::Binary(op, a, b) => {
                let (a, b) = (self.build(a, inputs)?, self.build(b, inputs)?);
                match op {
                    BinaryOp::Add => a.add(&b),
                    BinaryOp::Sub => a.sub(&b),
                    BinaryOp::Mul => a.mul(&b),
                    BinaryOp::Div => a.div(&b),
                    BinaryOp::Pow => a.pow(&b),
                }
            }
            Node::Call(name, args) => {
                let args = args.iter().map(|a| self.build(a, inputs)).collect::<Result<Vec<_>, _>>()?;
                match *name {
                    "exp" => args[0].exp(),
                    "log" | "ln" => args[0].log(),
                    "tanh" => args[0].tanh(),
                    "sin" => args[0].sin(),
                    "cos" => args[0].cos(),
                    "sigmoid" => args[0].sigmoid(),
                    "relu" => args[0].relu(),
                    "sqrt" => args[0].powf(0.5),
                    "max" => args[0].max(&args[1]),
                    "min" => args[0].min(&args[1]),
                    _ => args[0].pow(&args[1]),
                }
            }
        };
        let inputs_finite = value.inputs().all(|(v, _)| v.data().is_finite());
        if !value.data().is_finite() && inputs_finite {
            let operands: Vec<String> = value.inputs().map(|(v, _)| v.data().to_string()).collect();
            return Err(ExprError {
                expression: self.source.clone(),
                column: ast.start + 1,
                message: format!(
                    "this {} of {} gives {}, so there is no derivative to take",
                    describe(value.op()),
                    operands.join(" and "),
                    value.data()
                ),
            });
        }
        Ok(value)
    }
}

fn describe(op: super::Op) -> String {
    match op {
        super::Op::Div => "division".into(),
        super::Op::Pow => "power".into(),
        super::Op::Log => "log".into(),
        super::Op::Exp => "exp".into(),
        other => format!("`{other}`"),
    }
}

#[cfg(test)]
mod tests;
