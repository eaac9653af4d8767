#!/usr/bin/perl
# make check: run every test through prove (App::Prove), print TAP, and end
# with "N passed, N failed".  A test file that fails without a failing test
# point (crash, bad plan, wrong exit status) counts as one failure.
use strict;
use warnings;
use App::Prove;
use TAP::Harness;

package NestvmProve;
our @ISA = ('App::Prove');

sub _runtests {
	my ($self, $args, @tests) = @_;
	my $harness = TAP::Harness->new($args);
	my $agg = $harness->runtests(@tests);
	my $passed = scalar $agg->passed;
	my $failed = scalar $agg->failed;
	for my $d ($agg->descriptions) {
		my ($p) = $agg->parsers($d);
		$failed++ if $p->has_problems && !$p->failed;
	}
	print "$passed passed, $failed failed\n";
	return !$agg->has_errors && $failed == 0;
}

package main;

my $O = $ENV{O} || 'build';
my @tests;
push @tests, sort glob("tests/cli/*.t");
push @tests, sort glob("$O/tests/unit/*");
@tests = grep { !/\.d$/ } @tests;
push @tests, sort glob("$O/tests/guest/*.elf");
push @tests, sort glob("tests/torture/*.t");

my $app = NestvmProve->new;
my $jobs = $ENV{JOBS} || 2;
$app->process_args('-j', $jobs, '--exec', 'tests/harness/run-test', @ARGV ? @ARGV : @tests);
exit($app->run ? 0 : 1);
