// Tests of the Media module (Tests/<Module>Tests mirrors Sources/<Module>).
