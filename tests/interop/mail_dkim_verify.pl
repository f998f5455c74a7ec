#!/usr/bin/perl
# Verify the DKIM signatures of the message on stdin with Mail::DKIM; print one
# line per signature: its algorithm, selector and result ("pass", "fail",
# "invalid"...). Lines are given to the verifier with CRLF ends, as they travel
# in SMTP.
use strict;
use warnings;
use Mail::DKIM::Verifier;

my $dkim = Mail::DKIM::Verifier->new();
while (my $line = <STDIN>) {
    $line =~ s/\r?\n\z//;
    $dkim->PRINT("$line\015\012");
}
$dkim->CLOSE;
foreach my $signature ($dkim->signatures) {
    printf "%s %s %s\n", $signature->algorithm, $signature->selector,
        $signature->result_detail;
}
