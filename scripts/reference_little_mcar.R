# Little's (1988) MCAR test computed by hand in R from lavaan's EM estimates of the saturated
# model, the reference of tests/test_mcar.py (run from the repository root):
#   Rscript scripts/reference_little_mcar.R
# Needs R with lavaan 0.6-14 (Debian: r-base-core r-cran-lavaan). No R package with Little's
# test (naniar, misty, BaylorEdPsych, mice, MissMech) is installed here, so the statistic is
# written out:
#   d2 = sum_k n_k (ybar_k - mu_O)' Sigma_OO^-1 (ybar_k - mu_O),  df = sum_k |O_k| - p,
# with mu, Sigma the ML (EM) estimates of the unrestricted mean vector and covariance matrix
# (lavaan:::lav_mvnorm_missing_h1_estimate_moments, run to a tight tolerance) and ybar_k the mean
# of pattern k's cases on its observed variables O_k. Rows with every variable missing are left
# out. airquality (R's datasets) is added because naniar documents its result for it
# (mcar_test(airquality): statistic 35.1, df 14, p.value 0.00142, 4 patterns).
# Writes tests/data/missing/airquality.csv and tests/data/missing/little_mcar_reference.csv.
suppressMessages(library(lavaan))

out_dir <- "tests/data/missing"

little <- function(y) {
  y <- as.matrix(y)
  y <- y[rowSums(!is.na(y)) > 0, , drop = FALSE]
  mp <- lavaan:::lav_data_missing_patterns(y)
  em <- lavaan:::lav_mvnorm_missing_h1_estimate_moments(
    Y = y, Mp = mp, max.iter = 100000L, tol = 1e-12
  )
  mu <- as.numeric(em$Mu)
  sigma <- em$Sigma
  key <- apply(!is.na(y), 1, function(r) paste(as.integer(r), collapse = ""))
  d2 <- 0
  df <- 0
  for (k in unique(key)) {
    rows <- which(key == k)
    obs <- which(!is.na(y[rows[1], ]))
    ybar <- colMeans(y[rows, obs, drop = FALSE])
    d <- ybar - mu[obs]
    d2 <- d2 + length(rows) * drop(t(d) %*% solve(sigma[obs, obs, drop = FALSE], d))
    df <- df + length(obs)
  }
  df <- df - ncol(y)
  data.frame(
    statistic = d2, df = df, pvalue = pchisq(d2, df, lower.tail = FALSE),
    npatterns = length(unique(key)), n = nrow(y)
  )
}

write.csv(datasets::airquality, file.path(out_dir, "airquality.csv"), row.names = FALSE, na = "")

sets <- list(
  HolzingerSwineford1939_mcar10 = list(file = "HolzingerSwineford1939_mcar10.csv",
                                       vars = paste0("x", 1:9)),
  hs_mar15 = list(file = "hs_mar15.csv", vars = paste0("x", 1:9)),
  sem_mar = list(file = "sem_mar.csv", vars = c(paste0("y", 1:8), "x")),
  bfi = list(file = "bfi.csv",
             vars = c(paste0("A", 1:5), paste0("C", 1:5), paste0("E", 1:5), paste0("N", 1:5),
                      paste0("O", 1:5))),
  airquality = list(file = "airquality.csv",
                    vars = c("Ozone", "Solar.R", "Wind", "Temp", "Month", "Day"))
)
rows <- lapply(names(sets), function(name) {
  s <- sets[[name]]
  d <- read.csv(file.path(out_dir, s$file))
  cbind(data = name, file = s$file, vars = paste(s$vars, collapse = " "), little(d[, s$vars]))
})
ref <- do.call(rbind, rows)
print(ref)
write.csv(ref, file.path(out_dir, "little_mcar_reference.csv"), row.names = FALSE)  # 15 digits
