# Make the MAR test data in tests/data/missing/ and lavaan's FIML fits of them (run from the repo
# root):   Rscript scripts/reference_lavaan_missing.R
# Needs R with lavaan 0.6-14 (Debian: r-base-core r-cran-lavaan); JSON is written by hand.
#
# Data sets (fixed seeds, so a rerun writes the same files):
# - hs_mar15.csv: Holzinger-Swineford x1-x9 with 15% of the 2709 cells missing at random: x1 is
#   always observed, and a cell of x2-x9 is drawn to be missing with weight exp(1.5 z1) (z1 the
#   standardized x1): low-x1 pupils answer more.
# - sem_mar.csv: 500 cases simulated from a two-factor SEM with an observed covariate x
#   (f1 ~ x, f2 ~ f1 + x); each y-cell is missing with probability plogis(-2.2 + 1.2 x) (about
#   15%), x itself is missing in 6 rows (lavaan drops them: fixed.x = TRUE) and the y-items of 3
#   more rows are all missing.
# For each fit: `<name>_params.csv` (parameterEstimates(fit, standardized = TRUE): lhs, op, rhs,
# label, est, se, z, pvalue, ci.lower, ci.upper, std.lv, std.all) and `<name>_fit.json` (the
# model, the call, lavaan's options, ntotal and fitMeasures()).
suppressMessages(library(lavaan))

out_dir <- "tests/data/missing"
dir.create(out_dir, showWarnings = FALSE, recursive = TRUE)

# ---------------------------------------------------------------------------------------- data
set.seed(20261201)
hs <- read.csv("tests/data/HolzingerSwineford1939.csv")[, paste0("x", 1:9)]
z1 <- as.numeric(scale(hs$x1))
n_cells <- nrow(hs) * 9
n_missing <- round(0.15 * n_cells)
cells <- expand.grid(row = seq_len(nrow(hs)), col = 2:9)
pick <- sample(nrow(cells), n_missing, prob = exp(1.5 * z1[cells$row]))
for (k in pick) hs[cells$row[k], cells$col[k]] <- NA
write.csv(hs, file.path(out_dir, "hs_mar15.csv"), row.names = FALSE, na = "")

set.seed(20261202)
n <- 500
x <- rnorm(n)
f1 <- 0.5 * x + rnorm(n, sd = sqrt(0.75))
f2 <- 0.4 * f1 + 0.3 * x + rnorm(n, sd = 0.8)
lam <- c(1, 0.8, 0.9, 0.7)
sim <- data.frame(
  sapply(1:4, function(j) 2 + lam[j] * f1 + rnorm(n, sd = 0.6)),
  sapply(1:4, function(j) 3 + lam[j] * f2 + rnorm(n, sd = 0.6)),
  x = x
)
names(sim)[1:8] <- paste0("y", 1:8)
p_miss <- plogis(-2.2 + 1.2 * x)
for (j in 1:8) sim[runif(n) < p_miss, j] <- NA
sim$x[sample(n, 6)] <- NA
empty <- sample(which(!is.na(sim$x)), 3)
sim[empty, 1:8] <- NA
write.csv(sim, file.path(out_dir, "sem_mar.csv"), row.names = FALSE, na = "")

# ---------------------------------------------------------------------------------------- fits
hs3 <- "visual =~ x1 + x2 + x3
textual =~ x4 + x5 + x6
speed =~ x7 + x8 + x9"
sem_text <- "f1 =~ y1 + y2 + y3 + y4
f2 =~ y5 + y6 + y7 + y8
f1 ~ a*x
f2 ~ b*f1 + c*x
ind := a*b"

fits <- list(
  hs_cfa_fiml_mar15 = list(data = "hs_mar15.csv", text = hs3, fun = "cfa", missing = "ml"),
  hs_cfa_listwise_mar15 = list(
    data = "hs_mar15.csv", text = hs3, fun = "cfa", missing = "listwise"
  ),
  sem_fiml_mar = list(data = "sem_mar.csv", text = sem_text, fun = "sem", missing = "ml")
)

measures <- c(
  "npar", "fmin", "chisq", "df", "pvalue", "baseline.chisq", "baseline.df", "cfi", "tli",
  "rmsea", "rmsea.ci.lower", "rmsea.ci.upper", "rmsea.pvalue", "srmr", "aic", "bic", "bic2",
  "logl", "unrestricted.logl"
)
param_cols <- c(
  "lhs", "op", "rhs", "label", "est", "se", "z", "pvalue", "ci.lower", "ci.upper",
  "std.lv", "std.all"
)

json_str <- function(s) {
  s <- gsub("\\", "\\\\", s, fixed = TRUE)
  s <- gsub("\"", "\\\"", s, fixed = TRUE)
  s <- gsub("\n", "\\n", s, fixed = TRUE)
  paste0("\"", s, "\"")
}
json_num <- function(x) if (is.na(x) || is.infinite(x)) "null" else sprintf("%.15g", x)
json_obj <- function(items, indent = "  ") {
  body <- paste0(indent, "  ", json_str(names(items)), ": ", unlist(items), collapse = ",\n")
  paste0("{\n", body, "\n", indent, "}")
}
meta <- list(
  R = json_str(R.version.string),
  lavaan = json_str(as.character(packageVersion("lavaan"))),
  date = json_str(format(Sys.time(), "%Y-%m-%d %H:%M:%S %Z")),
  script = json_str("scripts/reference_lavaan_missing.R")
)

for (name in names(fits)) {
  m <- fits[[name]]
  data <- read.csv(file.path(out_dir, m$data))
  call_text <- sprintf("%s(model, data = %s, missing = \"%s\")", m$fun, m$data, m$missing)
  t0 <- proc.time()[["elapsed"]]
  fit <- suppressWarnings(do.call(m$fun, list(model = m$text, data = data, missing = m$missing)))
  elapsed <- proc.time()[["elapsed"]] - t0
  stopifnot(lavInspect(fit, "converged"))
  pe <- parameterEstimates(fit, standardized = TRUE)
  if (!"label" %in% names(pe)) pe$label <- ""
  write.csv(pe[, param_cols], file.path(out_dir, paste0(name, "_params.csv")), row.names = FALSE)
  fm <- fitMeasures(fit, measures)
  fm_items <- lapply(measures, function(k) json_num(unname(fm[[k]])))
  names(fm_items) <- measures
  opts <- lavInspect(fit, "options")
  doc <- json_obj(list(
    name = json_str(name),
    data = json_str(file.path(out_dir, m$data)),
    model = json_str(m$text),
    call = json_str(call_text),
    converged = "true",
    iterations = json_num(lavInspect(fit, "iterations")),
    seconds = json_num(elapsed),
    options = json_obj(list(
      estimator = json_str(opts$estimator),
      missing = json_str(opts$missing),
      information = json_str(opts$information[1]),
      observed.information = json_str(opts$observed.information[1]),
      meanstructure = if (isTRUE(opts$meanstructure)) "true" else "false",
      fixed.x = if (isTRUE(opts$fixed.x)) "true" else "false",
      ntotal = json_num(lavInspect(fit, "ntotal")),
      npatterns = json_num(if (m$missing == "ml") length(lavInspect(fit, "patterns")[, 1]) else 1)
    ), "  "),
    meta = json_obj(meta, "  "),
    fit_measures = json_obj(fm_items, "  ")
  ), "")
  writeLines(doc, file.path(out_dir, paste0(name, "_fit.json")))
  cat(sprintf("%-24s n %4d  npar %2d  chisq %9.4f  df %2d  %.2f s\n", name,
              as.integer(lavInspect(fit, "ntotal")), as.integer(fm[["npar"]]), fm[["chisq"]],
              as.integer(fm[["df"]]), elapsed))
}
