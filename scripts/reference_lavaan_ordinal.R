# Intermediate references of lavaan's WLSMV for tests/data/ordinal/ (run from the repo root):
#   Rscript scripts/reference_lavaan_ordinal.R
# Needs R with lavaan 0.6-14 (Debian: r-base-core r-cran-lavaan).
#
# For the ordinal Holzinger-Swineford CFA (tests/data/ordinal/HolzingerSwineford1939_ordinal5.csv)
# and the bfi five-factor CFA (tests/data/missing/bfi.csv, listwise), both with `ordered = TRUE`
# (estimator WLSMV: DWLS, se = "robust.sem", test = "scaled.shifted", delta parameterisation):
# - <name>_thresholds.csv: lavInspect(fit, "sampstat")$th, the sample thresholds (item, k, th)
# - <name>_polychoric.csv: lavInspect(fit, "sampstat")$cov, the polychoric correlations
# - <name>_gamma_diag.csv: diag(lavInspect(fit, "gamma")) (NACOV, the asymptotic covariance of
#   sqrt(N) times the thresholds and polychorics) and diag(lavInspect(fit, "wls.v")) (DWLS weights)
# - hs_cfa_ordinal_wlsmv_gamma.csv: the whole NACOV of the HS fit (81 x 81)
# - <name>_partable.csv: parTable(fit) (lhs, op, rhs, free, ustart, est)
suppressMessages(library(lavaan))

out_dir <- "tests/data/ordinal"
hs <- read.csv(file.path(out_dir, "HolzingerSwineford1939_ordinal5.csv"))[, paste0("x", 1:9)]
hs_model <- "visual =~ x1 + x2 + x3; textual =~ x4 + x5 + x6; speed =~ x7 + x8 + x9"
bfi_items <- as.vector(t(outer(c("A", "C", "E", "N", "O"), 1:5, paste0)))
bfi <- read.csv("tests/data/missing/bfi.csv")[, bfi_items]
bfi_model <- paste(readLines("models/bfi_cfa.lav"), collapse = "\n")

write_refs <- function(fit, name, full_gamma = FALSE) {
  ss <- lavInspect(fit, "sampstat")
  th <- ss$th
  parts <- strsplit(names(th), "|", fixed = TRUE)
  write.csv(
    data.frame(
      item = sapply(parts, `[`, 1), k = as.integer(sub("t", "", sapply(parts, `[`, 2))),
      th = unname(th)
    ),
    file.path(out_dir, paste0(name, "_thresholds.csv")), row.names = FALSE
  )
  pc <- unclass(ss$cov)
  write.csv(pc, file.path(out_dir, paste0(name, "_polychoric.csv")))
  gam <- lavInspect(fit, "gamma")
  wlsv <- lavInspect(fit, "wls.v")
  write.csv(
    data.frame(name = rownames(gam), gamma = diag(gam), wls_v = diag(wlsv)),
    file.path(out_dir, paste0(name, "_gamma_diag.csv")), row.names = FALSE
  )
  if (full_gamma) {
    write.csv(unclass(gam), file.path(out_dir, paste0(name, "_gamma.csv")))
  }
  pt <- parTable(fit)
  write.csv(pt[, c("lhs", "op", "rhs", "free", "ustart", "est")],
    file.path(out_dir, paste0(name, "_partable.csv")), row.names = FALSE
  )
}

fit_hs <- cfa(hs_model, data = hs, ordered = TRUE)
write_refs(fit_hs, "hs_cfa_ordinal_wlsmv", full_gamma = TRUE)
t0 <- proc.time()
fit_bfi <- cfa(bfi_model, data = bfi, ordered = TRUE)
cat("bfi WLSMV elapsed:", (proc.time() - t0)[["elapsed"]], "s\n")
write_refs(fit_bfi, "bfi_cfa_wlsmv")
cat("HS chisq.scaled", fitMeasures(fit_hs, "chisq.scaled"), "\n")
cat("bfi chisq.scaled", fitMeasures(fit_bfi, "chisq.scaled"), "\n")

# Binary items with an empty cell (lavaan adds 0.5 to it, keeping the margins): x1-x4 of the
# ordinal HS data cut at category 3 (x4 at 5), and x4 set to 0 wherever x1 is 0.
b <- as.data.frame(lapply(hs[, paste0("x", 1:4)], function(x) as.integer(x >= 3)))
b$x4 <- as.integer(hs$x4 >= 5)
b$x4[b$x1 == 0] <- 0L
write.csv(b, file.path(out_dir, "hs_binary4.csv"), row.names = FALSE)
fit_bin <- cfa("f =~ x1 + x2 + x3 + x4", data = b, ordered = TRUE)
ss <- lavInspect(fit_bin, "sampstat")
write.csv(unclass(ss$cov), file.path(out_dir, "hs_binary4_polychoric.csv"))
write.csv(
  data.frame(name = names(diag(lavInspect(fit_bin, "gamma"))), gamma = diag(lavInspect(fit_bin, "gamma"))),
  file.path(out_dir, "hs_binary4_gamma_diag.csv"), row.names = FALSE
)
