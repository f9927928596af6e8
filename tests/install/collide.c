/* Names that rvm uses inside itself: a program that links the static librvm.a and happens to
 * define them must still link and run (the archive keeps its internals local).
 * SPDX-License-Identifier: GPL-3.0-or-later */
int rvmi_pool_create(int threads);
int rvmi_pool_create(int threads) { return threads; }
int rvmi_log;
