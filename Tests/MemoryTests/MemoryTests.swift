// Tests of the Memory module (Tests/<Module>Tests mirrors Sources/<Module>).
