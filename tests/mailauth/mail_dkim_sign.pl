#!/usr/bin/perl
# Sign the message on stdin with Mail::DKIM (rsa-sha256, relaxed/relaxed) and
# print the DKIM-Signature field and the message, CRLF line ends.
# Usage: mail_dkim_sign.pl DOMAIN SELECTOR KEYFILE
use strict;
use warnings;
use Mail::DKIM::Signer;
use Mail::DKIM::TextWrap;

my ($domain, $selector, $keyfile) = @ARGV;
my $signer = Mail::DKIM::Signer->new(
    Algorithm => "rsa-sha256", Method => "relaxed",
    Domain => $domain, Selector => $selector, KeyFile => $keyfile);
binmode STDIN;
binmode STDOUT;
local $/;
my $message = <STDIN>;
$message =~ s/\r?\n/\015\012/g;
$signer->PRINT($message);
$signer->CLOSE;
my $field = $signer->signature->as_string;
$field =~ s/\r?\n/\015\012/g;
print $field, "\015\012", $message;
